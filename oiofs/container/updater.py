"""``container-updater``: carries each container's object count and bytes to its account.

The container server tells the account about a container when the container is created
or deleted; object PUTs and DELETEs only change the container's database. The updater
walks the local container databases and, for each whose timestamps or counts differ from
what it last reported (``reported_*`` in the container's stat row), sends the account
servers the container report of ``docs/backend-protocol.md``::

    PUT /<dev>/<part>/<account>/<container>
    X-Put-Timestamp, X-Delete-Timestamp, X-Object-Count, X-Bytes-Used,
    X-Backend-Storage-Policy-Index, X-Timestamp

to every primary of the account's partition at once. Once a quorum answered 2xx, the
values sent are recorded as reported (so a change that lands meanwhile is sent next pass).

Options (``[container-updater]``, with ``[DEFAULT]``): ``devices``, ``mount_check``,
``bind_ip``/``bind_port`` (which container ring devices are ours), ``oiofs_dir`` (the
rings), ``interval`` (300 s), ``concurrency`` (4 containers at once), ``conn_timeout``
(0.5 s), ``node_timeout`` (3 s), ``db_busy_timeout`` (25 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from oiofs.common import runtime
from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.config import conf_float, conf_int, oiofs_dir
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.replication_walk import iter_db_files, local_db_devices
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    DbError,
    DbNotFound,
    DbQuarantined,
    NodeTimeout,
)
from oiofs.common.logger import node_key
from oiofs.common.ring import Ring
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker


@dataclass
class ContainerUpdaterStats(PassStats):
    """What one pass did."""

    checked: int = 0
    no_change: int = 0
    reported: int = 0
    failures: int = 0
    account_missing: int = 0
    quarantined: int = 0
    requests: int = 0


def needs_report(info: dict) -> bool:
    """True if the account has not been told the container's current state."""
    return (info["put_timestamp"] != info["reported_put_timestamp"]
            or info["delete_timestamp"] != info["reported_delete_timestamp"]
            or info["object_count"] != info["reported_object_count"]
            or info["bytes_used"] != info["reported_bytes_used"])


class ContainerUpdater(Daemon):
    """Reports the local containers' stats to their account servers."""

    name = "container-updater"

    def __init__(self, conf: dict, logger=None, container_ring: Ring | None = None,
                 account_ring: Ring | None = None):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 300.0)
        self.devices = conf.get("devices", "/srv/node")
        self.concurrency = conf_int(conf, "concurrency", 4, minimum=1)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 3.0)
        self.db_busy_timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.container_ring = container_ring or Ring(oiofs_dir(conf), ring_name="container")
        self.account_ring = account_ring or Ring(oiofs_dir(conf), ring_name="account")
        self.stats = ContainerUpdaterStats()

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's ``container_updater_sweep`` (seconds the pass took), and the counters."""
        return {"container_updater_sweep": ended - began,
                "container_updater_stats": result.counters()}

    def run_once(self, **kwargs) -> ContainerUpdaterStats:
        """Report every local container whose stats changed; the pass's counters."""
        self.stats = stats = ContainerUpdaterStats()
        pool = runtime.GreenPool(self.concurrency)
        for dev in local_db_devices(self.container_ring, self.conf, self.logger):
            for _part, db_file in iter_db_files(self.devices, dev["device"], "containers"):
                if self.stopping:
                    break
                pool.spawn_n(self._process_logged, db_file)
        pool.waitall()
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def _process_logged(self, db_file: str) -> None:
        try:
            self.process_container(db_file)
        except Exception:  # one bad database must not end the pass
            self.stats.failures += 1
            self.logger.exception("container update of %s failed", db_file)

    def process_container(self, db_file: str) -> bool:
        """Report one container if needed; True if the account now has its state."""
        stats = self.stats
        broker = ContainerBroker(db_file, timeout=self.db_busy_timeout, logger=self.logger,
                                 stale_reads_ok=True)
        try:
            try:
                info = broker.get_info()
            except DbQuarantined:
                stats.quarantined += 1
                return False
            except DbNotFound:
                return False
            stats.checked += 1
            if not needs_report(info):
                stats.no_change += 1
                return True
            part, nodes = self.account_ring.get_nodes(info["account"])
            headers = {
                "X-Put-Timestamp": info["put_timestamp"],
                "X-Delete-Timestamp": info["delete_timestamp"],
                "X-Object-Count": str(info["object_count"]),
                "X-Bytes-Used": str(info["bytes_used"]),
                POLICY_INDEX_HEADER: str(info["storage_policy_index"]),
                "X-Timestamp": Timestamp.now().internal,
                "User-Agent": "container-updater",
            }
            if Timestamp(info["delete_timestamp"]) > Timestamp(info["put_timestamp"]):
                # a container's last report is heard even by a deleted account (the
                # reaper deletes containers after their account), or the container's
                # database would wait for it forever before being reclaimed
                headers["X-Account-Override-Deleted"] = "yes"
            pile = runtime.GreenPile(len(nodes))
            for node in nodes:
                pile.spawn(self._send, node, backend_path(
                    node["device"], part, info["account"], info["container"]), headers)
            statuses = list(pile)
            stats.requests += len(statuses)
            successes = sum(1 for s in statuses if s is not None and 200 <= s < 300)
            if successes >= len(nodes) // 2 + 1:
                try:
                    broker.reported(info["put_timestamp"], info["delete_timestamp"],
                                    info["object_count"], info["bytes_used"])
                except DbError as err:
                    self.logger.warning("cannot record the report of %s: %s", db_file, err)
                    stats.failures += 1
                    return False
                stats.reported += 1
                return True
            if statuses and all(s == 404 for s in statuses):
                stats.account_missing += 1
                self.logger.warning("account %s of %s/%s not found", info["account"],
                                    info["account"], info["container"])
            else:
                stats.failures += 1
            return False
        finally:
            broker.close()

    def _send(self, node: dict, path: str, headers: dict) -> int | None:
        try:
            resp = direct_request(node["ip"], node["port"], "PUT", path, headers=headers,
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.node_timeout)
        except (ConnectionTimeout, NodeTimeout, ClientException) as err:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "container report to %s:%s%s failed: %s", node["ip"],
                             node["port"], path, err)
            return None
        if not 200 <= resp.status < 300 and resp.status != 404:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "container report to %s:%s%s answered %s", node["ip"],
                             node["port"], path, resp.status)
        return resp.status
