"""A small real replication set-up: object servers on 127.0.0.1, a real ring, real files.

Four ring devices (3 replicas, 8 partitions): ``sda``, ``sdb``, ``sdc`` are served by three
real ``oiofs-server object`` processes; ``sdd`` has no server and plays the node whose
replicator runs in the test process (its files are written directly).
"""

from __future__ import annotations

import logging
import os
import shutil

from oiofs.common.hashing import md5
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.diskfile import DiskFileManager
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

DEVICES = ("sda", "sdb", "sdc", "sdd")
POLICY = POLICIES.get_by_index(0)


class Log:
    """Collects what a daemon logs (a real sink, not a mock of behaviour)."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def _at(level):
        def log(self, msg, *args, **kwargs):
            self.lines.append((level, msg % args if args else msg))
        return log

    debug = _at("debug")
    info = _at("info")
    warning = _at("warning")
    error = _at("error")
    exception = _at("error")

    def isEnabledFor(self, level):
        return True

    def log(self, level, msg, *args, **kwargs):
        """As ``logging.Logger.log`` (a RepeatLimiter writes this way)."""
        self.lines.append((logging.getLevelName(level).lower(), msg % args if args else msg))

    def text(self, level: str | None = None) -> str:
        return "\n".join(line for lvl, line in self.lines if level in (None, lvl))


def daemon_conf(devices: str, port: int, oiofs_dir: str, **extra) -> dict:
    """A replicator's (or reconstructor's) configuration on the server at ``port`` of
    127.0.0.1 whose devices are under ``devices``; ``extra`` options as text."""
    conf = {"devices": devices, "bind_ip": "127.0.0.1", "bind_port": str(port),
            "oiofs_dir": oiofs_dir, "node_timeout": "5", "http_timeout": "10"}
    conf.update({k: str(v) for k, v in extra.items()})
    return conf


class ReplicationSetup:
    """Servers for ``sda``..``sdc``, a ring over all four devices, helpers to make files."""

    def __init__(self, root: str, serve=DEVICES[:3], part_power: int = 3):
        self.root = root
        self.etc = os.path.join(root, "etc")
        write_cluster_conf(self.etc)
        self.ports = {dev: free_port() for dev in DEVICES}
        self.servers: dict[str, ServerProcess] = {}
        builder = RingBuilder(part_power, 3, 0)
        for number, dev in enumerate(DEVICES):
            os.makedirs(self.devices(dev), exist_ok=True)
            os.makedirs(os.path.join(self.devices(dev), dev), exist_ok=True)
            builder.add_dev({"region": 1, "zone": number + 1, "ip": "127.0.0.1",
                             "port": self.ports[dev], "device": dev, "weight": 100})
        builder.rebalance(seed=1)
        builder.get_ring().save(os.path.join(self.etc, "object.ring.gz"))
        self.ring = Ring(self.etc, ring_name="object")
        self.managers = {dev: DiskFileManager({"devices": self.devices(dev),
                                               "fsync_in_threads": "false"}, Log())
                         for dev in DEVICES}
        for dev in serve:
            conf = write_server_conf(
                os.path.join(root, f"{dev}.conf"), "egg:oiofs#object",
                {"bind_ip": "127.0.0.1", "bind_port": self.ports[dev], "workers": "0",
                 "devices": self.devices(dev), "oiofs_dir": self.etc, "log_level": "WARNING",
                 "log_requests": "false"})
            self.servers[dev] = ServerProcess("object", conf, self.ports[dev])
        for server in self.servers.values():
            server.start()

    def devices(self, dev: str) -> str:
        return os.path.join(self.root, "nodes", dev)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def wipe(self) -> None:
        """Remove every object and quarantine of every device (between tests)."""
        for dev in DEVICES:
            for name in os.listdir(os.path.join(self.devices(dev), dev)):
                shutil.rmtree(os.path.join(self.devices(dev), dev, name))

    def conf(self, dev: str, **extra) -> dict:
        """The replicator's configuration on the node of ``dev``."""
        return daemon_conf(self.devices(dev), self.ports[dev], self.etc, **extra)

    def node(self, dev: str) -> dict:
        return next(d for d in self.ring.devs if d and d["device"] == dev)

    def name_placed(self, primaries: set[str], prefix: str = "o") -> tuple[str, int]:
        """An object name whose primaries are exactly ``primaries``; ``(name, part)``."""
        for i in range(10000):
            name = f"{prefix}{i}"
            part, nodes = self.ring.get_nodes("a", "c", name)
            if {n["device"] for n in nodes} == primaries:
                return name, part
        raise AssertionError(f"no object name placed on {primaries}")

    # -- files -------------------------------------------------------------------------

    def put(self, dev: str, obj: str, ts: float, body: bytes = b"hello", **extra) -> None:
        """Store an object on ``dev``'s disk directly, as a PUT there would have."""
        part = self.ring.get_part("a", "c", obj)
        df = self.managers[dev].get_diskfile(dev, str(part), "a", "c", obj, POLICY)
        with df.create(len(body)) as writer:
            writer.write(body)
            writer.put({"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/plain",
                        "ETag": md5(body).hexdigest(), "Content-Length": str(len(body)),
                        "name": df.name, **extra})

    def delete(self, dev: str, obj: str, ts: float) -> None:
        part = self.ring.get_part("a", "c", obj)
        self.managers[dev].get_diskfile(dev, str(part), "a", "c", obj, POLICY).delete(
            Timestamp(ts))

    def post(self, dev: str, obj: str, ts: float, **meta) -> None:
        part = self.ring.get_part("a", "c", obj)
        df = self.managers[dev].get_diskfile(dev, str(part), "a", "c", obj, POLICY)
        df.write_metadata({"X-Timestamp": Timestamp(ts).internal, "name": df.name, **meta})

    def files(self, dev: str, obj: str) -> list[str]:
        """The file names of an object on ``dev``'s disk."""
        part = self.ring.get_part("a", "c", obj)
        df = self.managers[dev].get_diskfile(dev, str(part), "a", "c", obj, POLICY)
        try:
            return sorted(os.listdir(df.hash_dir))
        except FileNotFoundError:
            return []

    def partition_dir(self, dev: str, part: int) -> str:
        return os.path.join(self.devices(dev), dev, "objects", str(part))
