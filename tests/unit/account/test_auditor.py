"""The account auditor on real account databases in tmp_path (no server needed)."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from oiofs.account.auditor import AccountAuditor
from oiofs.account.backend import AccountBroker
from oiofs.common.db.broker import db_dir_for
from oiofs.common.ring import RingBuilder
from oiofs.common.timestamp import Timestamp

PORT = 6202


@pytest.fixture
def auditor(oiofs_dir, devices):
    builder = RingBuilder(2, 1, 0)
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": PORT,
                     "device": "sda", "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(oiofs_dir, "account.ring.gz"))
    conf = {"devices": devices, "mount_check": "false", "bind_ip": "127.0.0.1",
            "bind_port": str(PORT), "oiofs_dir": oiofs_dir, "dbs_per_second": "0"}
    return AccountAuditor(conf, logger=logging.getLogger("test.account_auditor"))


def make_account(devices, name):
    _dir, db_file = db_dir_for(devices, "sda", "accounts", 1, name)
    broker = AccountBroker(db_file, account=name)
    broker.initialize(Timestamp(1).internal)
    broker.put_container("c1", Timestamp(2).internal, 0, 4, 400)
    broker.put_container("c2", Timestamp(3).internal, 0, 1, 10)
    broker.commit_pending()
    return broker


def test_healthy_accounts_pass(auditor, devices, caplog):
    make_account(devices, "AUTH_a")
    make_account(devices, "AUTH_b")
    with caplog.at_level(logging.INFO, logger="test.account_auditor"):
        stats = auditor.run_once()
    assert (stats.checked, stats.passed, stats.quarantined) == (2, 2, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "account-auditor pass: checked=2" in caplog.text


def test_unreadable_account_is_quarantined(auditor, devices):
    broker = make_account(devices, "AUTH_bad")
    with open(broker.db_file, "r+b") as handle:
        handle.write(b"\x00" * 64)
    stats = auditor.run_once()
    assert stats.quarantined == 1 and not broker.exists()
    assert os.listdir(os.path.join(devices, "sda", "quarantined", "accounts")) == [
        os.path.basename(broker.db_dir)]


def test_totals_that_disagree_with_the_policies_are_logged(auditor, devices, caplog):
    broker = make_account(devices, "AUTH_off")
    conn = sqlite3.connect(broker.db_file)
    conn.execute("UPDATE account_stat SET object_count = 99")
    conn.commit()
    conn.close()
    with caplog.at_level(logging.ERROR, logger="test.account_auditor"):
        stats = auditor.run_once()
    assert stats.passed == 1  # readable: logged, not quarantined
    assert "object_count is 99 but its policies sum to 5" in caplog.text


def test_redis_backend_has_nothing_to_audit(auditor, devices, caplog):
    make_account(devices, "AUTH_x")  # a stray database: not looked at with Redis
    auditor.conf["backend"] = "redis"
    with caplog.at_level(logging.INFO):
        stats = auditor.run_once()
    assert stats.checked == 0
    assert "accounts are kept in Redis" in caplog.text


def test_redis_backend_has_nothing_to_replicate(oiofs_dir, devices, caplog):
    from oiofs.account.replicator import AccountReplicator

    builder = RingBuilder(2, 1, 0)
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": PORT,
                     "device": "sda", "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(oiofs_dir, "account.ring.gz"))
    replicator = AccountReplicator({"devices": devices, "mount_check": "false",
                                    "bind_ip": "127.0.0.1", "bind_port": str(PORT),
                                    "oiofs_dir": oiofs_dir, "backend": "redis"},
                                   logger=logging.getLogger("test.account_replicator"))
    make_account(devices, "AUTH_y")
    with caplog.at_level(logging.INFO):
        stats = replicator.run_once()
    assert stats.checked == 0
    assert "nothing to replicate" in caplog.text
