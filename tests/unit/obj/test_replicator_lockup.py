"""Lockup detection in a real replicator process: a peer that accepts and never answers."""

import os
import socket
import subprocess
import sys
import time

from oiofs.common.hashing import md5
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.replication_stats import Heartbeat, ObjectReplicationStats
from tests.support.replication import Log
from tests.support.servers import free_port, write_cluster_conf, write_server_conf


class FakePool:
    """The one attribute of a green pool the heartbeat uses, holding killable workers."""

    def __init__(self, workers):
        self.coroutines_running = set(workers)


class Worker:
    def __init__(self):
        self.killed = False

    def kill(self):
        self.killed = True


def test_heartbeat_kills_workers_only_after_lockup_timeout():
    now = [0.0]
    workers = [Worker(), Worker()]
    stats = ObjectReplicationStats()
    log = Log()
    beat = Heartbeat(FakePool(workers), stats, log, lockup_timeout=10, stats_interval=5,
                     clock=lambda: now[0])
    now[0] = 6
    assert beat.check() == 0 and "progress" in log.text("info")
    beat.progress()
    now[0] = 15
    assert beat.check() == 0  # progress 9 s ago
    now[0] = 16.5
    assert beat.check() == 2
    assert all(w.killed for w in workers)
    assert (stats.lockups, stats.failures) == (1, 2)
    assert "no progress" in log.text("error")


def test_stuck_peer_is_killed_and_the_pass_ends(tmp_path):
    etc = str(tmp_path / "etc")
    write_cluster_conf(etc)
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)  # accepts connections in the kernel; nobody ever reads or answers
    try:
        local_port = free_port()
        builder = RingBuilder(1, 2, 0)
        for number, (dev, port) in enumerate((("sda", local_port),
                                              ("sdb", hole.getsockname()[1]))):
            builder.add_dev({"region": 1, "zone": number + 1, "ip": "127.0.0.1",
                             "port": port, "device": dev, "weight": 100})
        builder.rebalance(seed=1)
        builder.get_ring().save(os.path.join(etc, "object.ring.gz"))
        devices = tmp_path / "devices"
        (devices / "sda").mkdir(parents=True)
        # one object on the local device, so that its partition has something to sync
        manager = DiskFileManager({"devices": str(devices), "fsync_in_threads": "false"},
                                  Log())
        part = Ring(etc, ring_name="object").get_part("a", "c", "o")
        df = manager.get_diskfile("sda", str(part), "a", "c", "o", POLICIES.get_by_index(0))
        with df.create(1) as writer:
            writer.write(b"x")
            writer.put({"X-Timestamp": Timestamp(time.time()).internal, "name": df.name,
                        "Content-Type": "text/plain", "ETag": md5(b"x").hexdigest(),
                        "Content-Length": "1"})
        conf = write_server_conf(
            str(tmp_path / "object-server.conf"), "egg:oiofs#object",
            {"bind_ip": "127.0.0.1", "bind_port": local_port, "devices": str(devices),
             "oiofs_dir": etc, "log_level": "INFO"},
            extra_sections="""
            [object-replicator]
            lockup_timeout = 1
            stats_interval = 0.2
            http_timeout = 120
            node_timeout = 120
            """)
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "oiofs.cli.daemon", "object-replicator", conf, "--once"],
            capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
    finally:
        hole.close()
    assert result.returncode == 0, result.stderr
    assert "no progress" in result.stderr
    assert "1 lockups" in result.stderr and "pass done" in result.stderr
    assert elapsed < 30  # far less than the 120 s timeouts
