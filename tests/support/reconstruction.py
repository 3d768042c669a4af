"""A small real erasure-coded set-up for the object reconstructor's tests.

Four real ``oiofs-server object`` processes on 127.0.0.1, each serving two devices
(``d<n>a``, ``d<n>b``), and the ring of an erasure-coded policy (4 + 2, 4 KiB segments unless told)
placing 6 archives over those 8 devices, one zone per server, as the all-in-one does.
Archives are written straight to disk, encoded as the proxy's writer encodes them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil

from oiofs.common.hashing import md5
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj import filenames
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.metadata import read_metadata_path
from tests.support.replication import Log, daemon_conf
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

SEGMENT = 4096


def ec_conf(segment: int) -> str:
    """The ``oiofs.conf`` policies: a default replicated one and ``ec42``."""
    return f"""
[storage-policy:0]
name = gold
default = yes

[storage-policy:1]
name = ec42
policy_type = erasure_coding
ec_num_data_fragments = 4
ec_num_parity_fragments = 2
ec_object_segment_size = {segment}
"""


NODES = 4


def load_policies(segment: int = SEGMENT) -> None:
    """The test process's policies: the same as the servers' ``oiofs.conf``."""
    POLICIES.load({"storage-policy:0": {"name": "gold", "default": "yes"},
                   "storage-policy:1": {"name": "ec42", "policy_type": "erasure_coding",
                                        "ec_num_data_fragments": "4",
                                        "ec_num_parity_fragments": "2",
                                        "ec_object_segment_size": str(segment)}})


class ECSetup:
    """Servers, ring and helpers to write, read and decode archives on disk."""

    def __init__(self, root: str, part_power: int = 2, segment: int = SEGMENT):
        load_policies(segment)
        self.segment = segment
        self.policy = POLICIES.get_by_index(1)
        self.root = root
        self.etc = os.path.join(root, "etc")
        write_cluster_conf(self.etc, ec_conf(segment))
        self.ports = [free_port() for _ in range(NODES)]
        builder = RingBuilder(part_power, 6, 0)
        self.node_of: dict[str, int] = {}
        for node in range(NODES):
            for letter in "ab":
                dev = f"d{node}{letter}"
                self.node_of[dev] = node
                os.makedirs(os.path.join(self.devices(node), dev), exist_ok=True)
                builder.add_dev({"region": 1, "zone": node + 1, "ip": "127.0.0.1",
                                 "port": self.ports[node], "device": dev, "weight": 100})
        builder.rebalance(seed=1)
        builder.get_ring().save(os.path.join(self.etc, "object-1.ring.gz"))
        self.ring = Ring(self.etc, ring_name="object-1")
        self.managers = [DiskFileManager({"devices": self.devices(node),
                                          "fsync_in_threads": "false"}, Log())
                         for node in range(NODES)]
        self.servers = [ServerProcess("object", self._server_conf(node), self.ports[node])
                        for node in range(NODES)]
        for server in self.servers:
            server.start()

    def _server_conf(self, node: int, **options) -> str:
        return write_server_conf(
            os.path.join(self.root, f"node{node}.conf"), "egg:oiofs#object",
            {"bind_ip": "127.0.0.1", "bind_port": self.ports[node], "workers": "0",
             "devices": self.devices(node), "oiofs_dir": self.etc,
             "log_level": "WARNING", "log_requests": "false", **options})

    @contextlib.contextmanager
    def server_options(self, node: int, **options):
        """Server ``node`` restarted with ``options`` for the ``with`` block (then back
        to the defaults)."""
        self.servers[node].stop()
        self._server_conf(node, **options)
        self.servers[node].start()
        try:
            yield
        finally:
            self.servers[node].stop()
            self._server_conf(node)
            self.servers[node].start()

    def devices(self, node: int) -> str:
        return os.path.join(self.root, "nodes", f"n{node}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        POLICIES.load({})

    def wipe(self) -> None:
        """Remove everything stored on every device (between tests)."""
        for dev, node in self.node_of.items():
            path = os.path.join(self.devices(node), dev)
            for name in os.listdir(path):
                shutil.rmtree(os.path.join(path, name))

    def conf(self, node: int, **extra) -> dict:
        """The reconstructor's configuration on server ``node``."""
        return daemon_conf(self.devices(node), self.ports[node], self.etc, **extra)

    # -- placement -----------------------------------------------------------------------

    def slots(self, obj: str) -> list[str]:
        """The devices of ``obj``'s archives, in slot (fragment index) order."""
        return [node["device"] for node in self.ring.get_nodes("a", "c", obj)[1]]

    def handoff(self, obj: str) -> str:
        """The first handoff device of ``obj``'s partition."""
        part = self.ring.get_part("a", "c", obj)
        return next(self.ring.get_more_nodes(part))["device"]

    # -- files ---------------------------------------------------------------------------

    def diskfile(self, dev: str, obj: str):
        part = self.ring.get_part("a", "c", obj)
        return self.managers[self.node_of[dev]].get_diskfile(dev, str(part), "a", "c",
                                                             obj, self.policy)

    def archives_of(self, body: bytes) -> list[bytes]:
        """The 6 archives of ``body``, encoded one segment at a time (the proxy's way)."""
        cached = getattr(self, "_last_encoded", None)
        if cached is not None and cached[0] is body:
            return cached[1]
        self._last_encoded = (body, self._encode(body))
        return self._last_encoded[1]

    def _encode(self, body: bytes) -> list[bytes]:
        size = self.segment
        segments = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        out = [b""] * 6
        for segment in segments:
            for index, fragment in enumerate(self.policy.driver.encode(segment)):
                out[index] += fragment
        return out

    def put_archive(self, dev: str, obj: str, body: bytes, index: int, ts: float,
                    durable: bool = True, **extra) -> None:
        """Store archive ``index`` of ``body`` on ``dev`` with the metadata the object
        server gives a committed archive (``durable``), or one whose commit never came."""
        archive = self.archives_of(body)[index]
        df = self.diskfile(dev, obj)
        metadata = {"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/plain",
                    "ETag": md5(archive).hexdigest(), "Content-Length": str(len(archive)),
                    "name": df.name, "X-Object-Sysmeta-Ec-Frag-Index": str(index),
                    "X-Object-Sysmeta-Ec-Segment-Size": str(self.segment),
                    "X-Object-Sysmeta-Ec-Scheme": self.policy.scheme, **extra}
        if durable:  # the footers come with the commit
            metadata.update({"X-Object-Sysmeta-Ec-Etag": md5(body).hexdigest(),
                             "X-Object-Sysmeta-Ec-Content-Length": str(len(body))})
        with df.create(len(archive)) as writer:
            writer.write(archive)
            writer.put(metadata, frag_index=index, durable=durable)

    def put(self, obj: str, body: bytes, ts: float, skip=()) -> None:
        """Store every archive of ``body`` on its slot's device, but the slots ``skip``."""
        for index, dev in enumerate(self.slots(obj)):
            if index not in skip:
                self.put_archive(dev, obj, body, index, ts)

    def delete(self, dev: str, obj: str, ts: float) -> None:
        self.diskfile(dev, obj).delete(Timestamp(ts))

    def files(self, dev: str, obj: str) -> list[str]:
        """The file names of ``obj`` on ``dev``."""
        return filenames.list_hash_dir(self.diskfile(dev, obj).hash_dir)

    def archive(self, dev: str, obj: str) -> tuple[int, bytes, dict] | None:
        """``(index, bytes, metadata)`` of the durable archive of ``obj`` on ``dev``."""
        hash_dir = self.diskfile(dev, obj).hash_dir
        for name in sorted(self.files(dev, obj)):
            parsed = filenames.parse_filename(name)
            if parsed and parsed.durable and parsed.frag_index is not None:
                path = os.path.join(hash_dir, name)
                metadata, length = read_metadata_path(path)
                with open(path, "rb") as handle:
                    data = handle.read(length)
                return parsed.frag_index, data, metadata
        return None

    def decodes_with_any_k(self, archives: dict[int, bytes], body: bytes) -> bool:
        """True if every choice of 4 of the 6 ``archives`` decodes to ``body``."""
        driver = self.policy.driver
        frag_size = len(self.archives_of(body[:self.segment])[0])
        for chosen in itertools.combinations(sorted(archives), 4):
            out = b""
            for start in range(0, len(archives[chosen[0]]), frag_size):
                out += driver.decode([archives[i][start:start + frag_size] for i in chosen])
            if out != body:
                return False
        return True
