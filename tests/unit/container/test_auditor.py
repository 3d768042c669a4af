"""The container auditor on real container databases in tmp_path (no server needed)."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from oiofs.common.db.broker import db_dir_for
from oiofs.common.ring import RingBuilder
from oiofs.common.timestamp import Timestamp
from oiofs.container.auditor import ContainerAuditor
from oiofs.container.backend import ContainerBroker

PORT = 6201


@pytest.fixture
def auditor(oiofs_dir, devices):
    builder = RingBuilder(2, 1, 0)
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": PORT,
                     "device": "sda", "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(oiofs_dir, "container.ring.gz"))

    def make(**options):
        conf = {"devices": devices, "mount_check": "false", "bind_ip": "127.0.0.1",
                "bind_port": str(PORT), "oiofs_dir": oiofs_dir, "dbs_per_second": "0",
                **options}
        return ContainerAuditor(conf, logger=logging.getLogger("test.auditor"))

    return make


def make_db(devices, name, objects=0):
    _dir, db_file = db_dir_for(devices, "sda", "containers", 2, "a", name)
    broker = ContainerBroker(db_file, account="a", container=name)
    broker.initialize(Timestamp(1).internal, storage_policy_index=0)
    for number in range(objects):
        broker.put_object(f"object-{number:05d}-" + "x" * 60, Timestamp(2 + number).internal,
                          1, "text/plain", "e")
    broker.commit_pending()
    return broker


def quarantined(devices) -> list[str]:
    path = os.path.join(devices, "sda", "quarantined", "containers")
    return os.listdir(path) if os.path.isdir(path) else []


def test_healthy_databases_pass(auditor, devices):
    for name in ("c1", "c2", "c3"):
        make_db(devices, name, objects=3)
    stats = auditor().run_once()
    assert (stats.checked, stats.passed, stats.quarantined, stats.failures) == (3, 3, 0, 0)
    assert stats.quick_checks == 3  # first pass of a fresh daemon
    assert quarantined(devices) == []


def test_unreadable_database_is_quarantined(auditor, devices):
    good = make_db(devices, "good")
    bad = make_db(devices, "bad")
    with open(bad.db_file, "r+b") as handle:
        handle.write(b"not a database header at all")
    stats = auditor().run_once()
    assert stats.quarantined == 1 and stats.passed == 1
    assert not bad.exists() and good.exists()
    assert quarantined(devices) == [os.path.basename(bad.db_dir)]
    # the next pass no longer sees it
    assert auditor().run_once().checked == 1


def damage_last_page(broker):
    page = sqlite3.connect(broker.db_file).execute("PRAGMA page_size").fetchone()[0]
    size = os.path.getsize(broker.db_file)
    with open(broker.db_file, "r+b") as handle:
        handle.seek(size - page)
        handle.write(b"\xff" * 12)  # the b-tree page header of a page of object rows


def test_damage_only_a_quick_check_sees(auditor, devices):
    broker = make_db(devices, "deep", objects=300)
    damage_last_page(broker)
    assert broker.get_info()["object_count"] == 300  # the stats still read fine
    daemon = auditor(quick_check_interval="3600")
    stats = daemon.run_once()
    assert stats.quick_checks == 1 and stats.quarantined == 1
    assert not broker.exists()


def test_quick_check_runs_every_interval_only(auditor, devices):
    make_db(devices, "c")
    daemon = auditor(quick_check_interval="3600")
    assert daemon.run_once().quick_checks == 1
    assert daemon.run_once().quick_checks == 0  # within the interval: stats only
    daemon.last_quick_check -= 3601
    assert daemon.run_once().quick_checks == 1
    every = auditor(quick_check_interval="0")
    assert every.run_once().quick_checks == every.run_once().quick_checks == 1


def test_only_local_devices_are_walked(auditor, devices):
    os.makedirs(os.path.join(devices, "sdb"))
    _dir, db_file = db_dir_for(devices, "sdb", "containers", 2, "a", "elsewhere")
    ContainerBroker(db_file, account="a", container="elsewhere").initialize(
        Timestamp(1).internal)
    with open(db_file, "r+b") as handle:
        handle.write(b"garbage" * 10)
    stats = auditor().run_once()
    assert stats.checked == 0 and os.path.exists(db_file)
