"""An in-sync pass compares hashes and never walks files: requests and time, measured.

``OIOFS_REPLICATION_SCALE_OBJECTS=10000`` runs the measurement reported in
``docs/replication.md`` (objects written with real diskfiles on four devices served by
real object servers); the default is small enough for the regular suite.
"""

import os
import time

import pytest

from oiofs.obj.replicator import ObjectReplicator
from tests.support.replication import DEVICES, Log, ReplicationSetup

OBJECTS = int(os.environ.get("OIOFS_REPLICATION_SCALE_OBJECTS", "300"))
PART_POWER = int(os.environ.get("OIOFS_REPLICATION_SCALE_PART_POWER", "4"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    setup = ReplicationSetup(str(tmp_path_factory.mktemp("scale")), serve=DEVICES,
                             part_power=PART_POWER)
    try:
        yield setup
    finally:
        setup.stop()


def test_in_sync_pass_is_cheap(env, capsys):
    now = time.time() - 60
    start = time.monotonic()
    for i in range(OBJECTS):
        obj = f"obj-{i}"
        _, nodes = env.ring.get_nodes("a", "c", obj)
        for node in nodes:
            env.put(node["device"], obj, now, b"x" * 16)
    written = time.monotonic() - start
    log = Log()
    # every pass compares (the default leaves agreed, unchanged partitions alone)
    daemon = ObjectReplicator(env.conf("sda", sync_check_interval="0"), logger=log)
    start = time.monotonic()
    daemon.run_once()
    first, first_time = daemon.last_stats, time.monotonic() - start
    start = time.monotonic()
    daemon.run_once()
    second, second_time = daemon.last_stats, time.monotonic() - start
    with capsys.disabled():
        print(f"\n{OBJECTS} objects (written in {written:.1f}s), part power {PART_POWER}: "
              f"first pass {first_time:.3f}s {first.requests} requests "
              f"{first.suffixes_hashed} suffixes hashed; in-sync pass {second_time:.3f}s "
              f"{second.requests} requests {second.suffixes_hashed} suffixes hashed "
              f"over {second.partitions} partitions")
    assert first.failures == second.failures == 0, log.text()
    assert first.files_pushed == 0
    # in sync: one REPLICATE per peer per partition, nothing hashed, nothing listed
    assert second.requests == 2 * second.partitions
    assert second.suffixes_hashed == second.suffixes_synced == second.files_pushed == 0
    # with the default, the pass after one in agreement asks nobody
    daemon = ObjectReplicator(env.conf("sda"), logger=log)
    daemon.run_once()
    daemon.run_once()
    assert daemon.last_stats.requests == 0
    assert daemon.last_stats.partitions_unchanged == second.partitions
