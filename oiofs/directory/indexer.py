"""``db-indexer`` (the seed's ``Meta2Indexer``): per volume, the index of its bases.

A volume is a device directory under ``devices``. Each pass, one
:class:`Meta2IndexingWorker` per volume walks its container and account databases and
writes the volume's index, ``<devices>/<dev>/db-index.json``: every base it holds
(``type``, ``account``, ``container``, ``partition``, ``hash``), written to a temporary
file, fsynced and renamed (the directory fsynced too), so a reader sees a whole index.

A lost volume's own index is lost with it; what it held is found from the others:
every base of a partition is on each of the partition's primaries, so the indexes of the
surviving volumes, filtered by the ring to the partitions the lost device is a primary
of, list its bases (:func:`bases_of_volume`, ``oiofs-admin volume bases``). Each db
server serves its volumes' indexes to the ``volume_index`` admin operation.

When the configuration names a directory (``directory_endpoints``), each pass also
publishes every volume as a *reference* (seed: a volume is a reference linked to its
index): account ``_volumes``, reference ``<addr>/<device>`` (``addr`` as the server
registers itself, :func:`~oiofs.directory.registrar.service_addr`), linked (type
``db-index``) to the db server that serves its index, with the properties ``bases`` (how
many), ``updated`` (the pass's time) and ``index`` (the file's path). A directory that
cannot be reached is logged and the pass goes on: the index file is what counts.

Options (section ``[db-indexer]`` of ``container-server.conf``, with ``[DEFAULT]``):
``devices``, ``interval`` (300 s), ``db_busy_timeout`` (25 s), ``directory_endpoints``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from logging import Logger
from typing import Any

from oiofs.common import runtime
from oiofs.common.config import conf_float
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.replication_walk import iter_db_files
from oiofs.common.db.volume_index import index_path
from oiofs.common.exceptions import DbError
from oiofs.common.fsutils import write_file_atomic
from oiofs.directory.client import DirectoryClient, directory_endpoints
from oiofs.directory.errors import DirectoryError
from oiofs.directory.registrar import service_addr

#: base type -> the data directory of its databases
DATADIRS = {"container": "containers", "account": "accounts"}
#: the account of the volumes' references in the directory, and their link type
VOLUMES_ACCOUNT = "_volumes"
INDEX_LINK_TYPE = "db-index"


class Meta2IndexingWorker:
    """Indexes one volume (seed: ``Meta2IndexingWorker(volume_path, conf)``)."""

    def __init__(self, volume_path: str, conf: dict[str, Any], logger: Logger,
                 broker_classes: dict[str, Callable[..., Any]] | None = None):
        self.volume_path = volume_path
        self.devices, self.device = os.path.split(volume_path.rstrip(os.sep))
        self.conf = conf
        self.logger = logger
        self.timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.broker_classes = broker_classes or _broker_classes()
        self.bases: list[dict[str, Any]] = []
        self.errors = 0

    def index_meta2_database(self, base_type: str, partition: int, db_file: str) -> None:
        """Add one database to the index being built (its names read from it)."""
        broker = self.broker_classes[base_type](db_file, timeout=self.timeout,
                                                logger=self.logger)
        try:
            info = broker.get_info()
        finally:
            broker.close()
        self.bases.append({"type": base_type, "account": info["account"],
                           "container": info.get("container"), "partition": partition,
                           "hash": os.path.basename(os.path.dirname(db_file))})

    def crawl_volume(self) -> list[dict[str, Any]]:
        """Index every database of the volume; the entries (also written out)."""
        self.bases, self.errors = [], 0
        for base_type, datadir in DATADIRS.items():
            for part, db_file in iter_db_files(self.devices, self.device, datadir,
                                               shuffle=False):
                try:
                    self.index_meta2_database(base_type, part, db_file)
                except (DbError, OSError) as err:
                    self.errors += 1
                    self.warn(str(err), db_file)
                runtime.sleep(0)
        self.bases.sort(key=lambda b: (b["type"], b["partition"], b["hash"]))
        document = {"device": self.device, "updated": time.time(), "bases": self.bases}
        write_file_atomic(index_path(self.devices, self.device),
                          json.dumps(document, sort_keys=True).encode("utf-8"))
        return self.bases

    def warn(self, msg: str, container_id: str) -> None:
        self.logger.warning("db-indexer %s: %s: %s", self.device, container_id, msg)

    def report(self, tag: str) -> None:
        """Log the worker's state (``starting``, ``running``, ``ended``)."""
        self.logger.info("db-indexer %s %s: %d bases, %d errors", self.device, tag,
                         len(self.bases), self.errors)

    def run(self) -> list[dict[str, Any]]:
        """One crawl with its report lines."""
        self.report("starting")
        bases = self.crawl_volume()
        self.report("ended")
        return bases


def _broker_classes() -> dict[str, Callable[..., Any]]:
    # the directory sits above the servers (docs/architecture.md): it may use their
    # brokers to read a database's names
    from oiofs.account.backend import AccountBroker
    from oiofs.container.backend import ContainerBroker
    return {"container": ContainerBroker, "account": AccountBroker}


@dataclass
class IndexerStats(PassStats):
    """What one pass did."""

    volumes: int = 0
    bases: int = 0
    errors: int = 0


class Meta2Indexer(Daemon):
    """A worker per volume each pass (seed: ``Meta2Indexer(conf)``)."""

    name = "db-indexer"

    def __init__(self, conf: dict[str, Any], logger: Logger | None = None):
        super().__init__(conf, logger)
        self.devices = conf.get("devices", "/srv/node")
        self.interval = conf_float(conf, "interval", 300.0)

    def volumes(self) -> list[str]:
        """Every device directory under ``devices``."""
        try:
            names = sorted(os.listdir(self.devices))
        except FileNotFoundError:
            return []
        return [os.path.join(self.devices, n) for n in names
                if os.path.isdir(os.path.join(self.devices, n))]

    def run_once(self, **kwargs: Any) -> IndexerStats:
        """Index every volume once."""
        stats = IndexerStats()
        pool = runtime.GreenPool(4)
        workers = [Meta2IndexingWorker(v, self.conf, self.logger) for v in self.volumes()]
        for worker in workers:
            pool.spawn_n(worker.run)
        pool.waitall()
        for worker in workers:
            stats.volumes += 1
            stats.bases += len(worker.bases)
            stats.errors += worker.errors
        if directory_endpoints(self.conf):
            self.publish(workers)
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def publish(self, workers: list[Meta2IndexingWorker]) -> None:
        """Record every volume as a reference in the directory (module docstring)."""
        addr = service_addr(self.conf)
        try:
            client = DirectoryClient(self.conf, timeout=conf_float(
                self.conf, "directory_timeout", 5.0))
            for worker in workers:
                reference = f"{addr}/{worker.device}"
                properties = {"bases": str(len(worker.bases)), "updated": f"{time.time():.5f}",
                              "index": index_path(worker.devices, worker.device)}
                if not client.create(VOLUMES_ACCOUNT, reference, properties=properties):
                    client.set_properties(VOLUMES_ACCOUNT, reference, properties=properties)
                client.force(VOLUMES_ACCOUNT, reference, INDEX_LINK_TYPE,
                             {"host": addr, "seq": 1, "args": worker.device}, replace=True)
        except (DirectoryError, OSError, ValueError) as err:
            self.logger.warning("%s: cannot publish the volumes in the directory: %s",
                                self.name, err)


def bases_of_volume(device_id: int, ring: Any, indexes: Iterable[dict[str, Any]],
                    base_type: str) -> list[dict[str, Any]]:
    """The bases of ``base_type`` a ring device holds or should hold as a primary, from
    the indexes of any volumes (its own if it survived, else its partitions' peers):
    every base of a partition it is a primary of, plus what its own index names."""
    found: dict[str, dict[str, Any]] = {}
    for index in indexes:
        own = index.get("ring_device_id") == device_id
        for base in index.get("bases", []):
            if base["type"] != base_type or base["hash"] in found:
                continue
            part = int(base["partition"])
            if own or any(n["id"] == device_id for n in ring.get_part_nodes(part)):
                found[base["hash"]] = base
    return sorted(found.values(), key=lambda b: (b["partition"], b["hash"]))


def collect_volume_bases(admin: Any, service_type: str, volume: str
                         ) -> tuple[list[dict[str, Any]], list[str]]:
    """The bases of ``service_type`` that the ring device ``volume`` (``ip:port/device``)
    holds or should hold, from the indexes every server of the ring serves; and the
    servers that did not answer (their volumes' bases may be missing from the list)."""
    from oiofs.directory.admin_client import AdminError, parse_replica_id, replica_id

    ring = admin.ring(service_type)
    ring.reload()
    parse_replica_id(volume)  # ValueError if malformed
    devs = [d for d in ring.devs if d]
    target = next((d for d in devs if replica_id(d) == volume), None)
    if target is None:
        raise ValueError(f"{volume} is not a device of the {service_type} ring")
    indexes: list[dict[str, Any]] = []
    unreachable: list[str] = []
    for ip, port in sorted({(d["ip"], int(d["port"])) for d in devs}):
        try:
            answer = admin.request(ip, port, "/", "volume_index")
        except AdminError:
            unreachable.append(f"{ip}:{port}")
            continue
        for index in answer:
            dev = next((d for d in devs if (d["ip"], int(d["port"]), d["device"]) ==
                        (ip, port, index.get("device"))), None)
            index["ring_device_id"] = None if dev is None else dev["id"]
            indexes.append(index)
    return bases_of_volume(target["id"], ring, indexes, service_type), unreachable
