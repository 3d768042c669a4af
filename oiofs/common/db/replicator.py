"""The database replicator: keeps the replicas of every container (or account) db alike.

One pass visits every database on this node's devices (:mod:`.replication_walk`). For
each, with its partition's primaries from the ring:

1. A deleted database past ``reclaim_age`` (whose last state the account has seen, for
   containers) is removed without syncing: its peers do the same, and sending it to a
   peer that already removed its copy would bring it back.
2. To each other primary: ``sync`` (:mod:`.replication_rpc`), which also merges
   metadata and timestamps both ways. Then, by what the peer answered:

   * it has no database: a **whole copy** (a snapshot streamed over HTTP);
   * it has everything we have (its sync point for us, or ours for it, reaches our last
     row; or the same hash): nothing to send;
   * it is far behind (its max row below half of ours and more than ``per_diff`` rows
     behind): a whole copy too, which it merges into its own;
   * otherwise the rows after its sync point, ``per_diff`` at a time (at most
     ``max_diffs`` batches a pass), then our incoming sync points; both sides then
     record how far the peer got.

   A primary whose device is unavailable (507) is replaced by the next handoff node.
3. When every primary is in sync, deleted rows older than ``reclaim_age`` are removed
   (they reached every replica); from then on such rows are never sent (a peer would
   take back what another reclaimed, and give it back after its own reclaim).
   A **handoff** database (this device is not one of the primaries, or the partition is
   not the right one) is pushed to every primary, and removed here once every one of
   them acknowledged and nothing changed meanwhile.
4. A primary database then goes to :meth:`DbReplicator.after_replication` (containers
   queue their misplaced objects for the reconciler there).

Every step is complete on its own or repeated by the next pass, so the daemon may be
killed at any moment. Each pass ends with one summary line.

Options (section ``[container-replicator]`` or ``[account-replicator]``, with
``[DEFAULT]``): ``devices``, ``mount_check``, ``bind_ip``, ``bind_port`` (which ring
devices are ours), ``oiofs_dir`` (the ring), ``interval`` (30 s), ``concurrency`` (8
databases at once), ``per_diff`` (1000 rows per request), ``max_diffs`` (100 batches per
database and pass), ``reclaim_age`` (604800 s), ``conn_timeout`` (0.5 s),
``node_timeout`` (10 s), ``db_busy_timeout`` (25 s).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from logging import Logger
from typing import Any, Generic

from oiofs.common import runtime
from oiofs.common.config import conf_float, conf_int, oiofs_dir
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.broker import BrokerT, zero_like
from oiofs.common.db.removal import remove_db
from oiofs.common.db.replication_client import (
    PeerDeviceUnavailable,
    ReplicationPeer,
    make_snapshot,
)
from oiofs.common.db.replication_rpc import merge_replica_state, parse_sync_info
from oiofs.common.db.replication_walk import (
    iter_db_files,
    local_db_devices,
    remove_stale_tmp,
    tmp_dir,
)
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    DbError,
    DbNotFound,
    DbQuarantined,
    NodeTimeout,
    OiofsError,
)
from oiofs.common.logger import node_key
from oiofs.common.ring import Ring
from oiofs.common.ring.devices import Device
from oiofs.common.timestamp import Timestamp

#: a peer whose max row is below this share of ours gets a whole copy
FAR_BEHIND_RATIO = 0.5


@dataclass
class DbReplicationStats(PassStats):
    """What one pass did (logged at its end, returned by ``run_once``)."""

    checked: int = 0
    no_change: int = 0
    hashmatch: int = 0
    diffs: int = 0
    diff_capped: int = 0
    rows_sent: int = 0
    whole_copies: int = 0
    remote_merges: int = 0
    removed_handoffs: int = 0
    removed_deleted: int = 0
    quarantined: int = 0
    failures: int = 0
    requests: int = 0
    misplaced_queued: int = 0  # containers: rows queued for the reconciler


class DbReplicator(Daemon, Generic[BrokerT]):
    """Replication of one kind of database; subclasses set the class attributes."""

    #: ``container`` or ``account``: the ring, and the server whose devices we walk
    server_type = ""
    datadir = ""
    broker_class: type[BrokerT]  # set by each replicator

    def __init__(self, conf: dict[str, Any], logger: Logger | None = None,
                 ring: Ring | None = None):
        super().__init__(conf, logger)
        self.devices = conf.get("devices", "/srv/node")
        self.concurrency = conf_int(conf, "concurrency", 8, minimum=1)
        self.per_diff = conf_int(conf, "per_diff", 1000, minimum=1)
        self.max_diffs = conf_int(conf, "max_diffs", 100, minimum=1)
        self.reclaim_age = conf_float(conf, "reclaim_age", 604800.0)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.db_busy_timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.ring = ring or Ring(oiofs_dir(conf), ring_name=self.server_type)
        self.pool = ConnectionPool(self.conn_timeout, self.node_timeout,
                                   max_idle=self.concurrency)
        self.stats = DbReplicationStats()

    # --- the pass -----------------------------------------------------------------------

    def recon_entries(self, result: Any, began: float, ended: float) -> dict[str, Any]:
        """Swift's ``replication_*`` keys; the stats keep our counters and add Swift's
        ``attempted``/``success``/``failure``/``start``, which ``oiofs-recon`` sums."""
        stats: DbReplicationStats = result
        counters = stats.counters()
        counters.update(attempted=stats.checked, failure=stats.failures,
                        success=max(stats.checked - stats.failures, 0), start=began)
        return {"replication_stats": counters, "replication_time": ended - began,
                "replication_last": ended}

    def run_once(self, **kwargs: Any) -> DbReplicationStats:
        """Replicate every local database once; the pass's counters."""
        self.stats = stats = DbReplicationStats()
        pool = runtime.GreenPool(self.concurrency)
        for dev in local_db_devices(self.ring, self.conf, self.logger):
            remove_stale_tmp(self.devices, dev["device"])
            for part, db_file in iter_db_files(self.devices, dev["device"], self.datadir):
                if self.stopping:
                    break
                pool.spawn_n(self._replicate_logged, dev, part, db_file)
        pool.waitall()
        self.pool.close_all()
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def _replicate_logged(self, dev: Device, part: int, db_file: str) -> None:
        try:
            self.replicate_db(dev, part, db_file)
        except Exception:  # one bad database must not end the pass
            self.stats.failures += 1
            self.logger.exception("replication of %s failed", db_file)

    def _broker(self, db_file: str) -> BrokerT:
        return self.broker_class(db_file, timeout=self.db_busy_timeout, logger=self.logger,
                                 pending_timeout=30.0)

    def replicate_db(self, dev: Device, part: int, db_file: str) -> None:
        """Replicate one database of local device ``dev`` (see the module docstring)."""
        stats = self.stats
        now = time.time()
        broker = self._broker(db_file)
        try:
            try:
                info = broker.get_replication_info()
            except DbQuarantined:
                stats.quarantined += 1
                return
            except DbNotFound:
                return  # removed meanwhile
            stats.checked += 1
            if self._reclaimable(info, now) and self.report_up_to_date(broker):
                if self.remove_db(broker, info["max_row"]):
                    stats.removed_deleted += 1
                return
            right_part = self.ring.get_part(info["account"], info["container"])
            primaries = self.ring.get_part_nodes(right_part)
            here = next((i for i, n in enumerate(primaries) if n["id"] == dev["id"]), None)
            if here is None or right_part != part:
                self._push_handoff(broker, right_part, primaries, info)
                return
            # start after us in ring order: the replicas of a partition do not all
            # turn to the same peer first
            peers = primaries[here + 1:] + primaries[:here]
            handoffs = self.ring.get_more_nodes(right_part)
            results = []
            for node in peers:
                ok = self._sync_or_log(broker, node, right_part, info)
                while ok is None:  # device unavailable: a handoff stands in
                    handoff = next((n for n in handoffs if n["id"] != dev["id"]), None)
                    ok = False if handoff is None else self._sync_or_log(broker, handoff,
                                                                         right_part, info)
                results.append(ok)
            if all(results):
                self._reclaim(broker, now)
            self.after_replication(broker, info)
        finally:
            broker.close()

    def after_replication(self, broker: BrokerT, info: dict[str, Any]) -> None:
        """What a subclass does with a primary database once it was synced with its
        peers (the container replicator queues misplaced objects). Nothing here."""

    def _reclaimable(self, info: dict[str, Any], now: float) -> bool:
        """Deleted (no rows, deleted after its last PUT) for longer than reclaim_age."""
        deleted_at = Timestamp(info["delete_timestamp"])
        return zero_like(info["count"]) and deleted_at > Timestamp(
            info["put_timestamp"]) and float(deleted_at) < now - self.reclaim_age

    def report_up_to_date(self, broker: BrokerT) -> bool:
        """Whether whoever must know this database's last state knows it (subclasses:
        the account, for containers)."""
        return True

    def _reclaim(self, broker: BrokerT, now: float) -> None:
        try:
            broker.reclaim(now - self.reclaim_age, now - 2 * self.reclaim_age)
        except DbError as err:
            self.logger.warning("reclaim of %s failed: %s", broker.db_file, err)

    # --- one peer -------------------------------------------------------------------------

    def _sync_or_log(self, broker: BrokerT, node: Device, part: int, info: dict[str, Any]
                     ) -> bool | None:
        """``sync_with`` a node: True if it is in sync, None if its device is
        unavailable, False on any other failure (logged)."""
        peer = ReplicationPeer(self.pool, node, part, os.path.basename(broker.db_dir))
        try:
            return self.sync_with(peer, broker, info)
        except PeerDeviceUnavailable:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "replication of %s: %s has no device", broker.db_file, peer)
            self.stats.failures += 1
            return None
        except (ConnectionTimeout, NodeTimeout, ClientException) as err:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "replication of %s to %s failed: %s", broker.db_file, peer, err)
        except DbQuarantined:
            self.stats.quarantined += 1
            return False
        except (DbError, OiofsError, OSError) as err:
            self.logger.error("replication of %s to %s failed: %s", broker.db_file, peer,
                              err)
        finally:
            self.stats.requests += peer.requests
        self.stats.failures += 1
        return False

    def sync_with(self, peer: ReplicationPeer, broker: BrokerT, info: dict[str, Any]) -> bool:
        """Bring ``peer``'s replica up to ours; True once it holds all our rows."""
        stats = self.stats
        remote = peer.sync(info)
        if remote is None:
            stats.whole_copies += 1
            return self._send_copy(peer, broker, info)
        merge_replica_state(broker, info, parse_sync_info(remote))
        local_sync = broker.get_sync(remote["id"], incoming=False)
        if max(remote["point"], local_sync) >= info["max_row"]:
            stats.no_change += 1
            return True
        if remote["hash"] == info["hash"]:
            stats.hashmatch += 1
            broker.merge_syncs([{"remote_id": remote["id"], "sync_point": info["max_row"]}],
                               incoming=False)
            return True
        if (info["max_row"] > 0 and remote["max_row"] / info["max_row"] < FAR_BEHIND_RATIO
                and info["max_row"] - remote["max_row"] > self.per_diff):
            stats.remote_merges += 1
            return self._send_copy(peer, broker, info)
        return self._send_rows(peer, broker, info, max(remote["point"], local_sync),
                               remote["id"])

    def _send_copy(self, peer: ReplicationPeer, broker: BrokerT, info: dict[str, Any]
                   ) -> bool:
        snapshot = make_snapshot(broker, tmp_dir(self.devices, _device_of(broker.db_file)))
        try:
            # a far-behind peer merges the copy row by row before it answers
            timeout = max(self.node_timeout, info["count"] / 1000.0)
            peer.send_copy(snapshot, info["id"], timeout)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(snapshot)
        return True

    def _send_rows(self, peer: ReplicationPeer, broker: BrokerT, info: dict[str, Any],
                   point: int, remote_id: str) -> bool:
        stats = self.stats
        stats.diffs += 1
        # taken before the rows: the points we pass on must not claim rows not yet sent
        sync_points = broker.get_syncs(incoming=True)
        rows = broker.get_items_since(point, self.per_diff)
        batches = 0
        # Deleted rows past reclaim_age are not sent: a peer that reclaimed them already
        # would take them back, and the two would hand them to each other forever.
        column = broker.db_reclaim_timestamp
        cutoff = Timestamp(time.time() - self.reclaim_age).internal
        while rows and batches < self.max_diffs:
            wanted = [r for r in rows if not (r["deleted"] and r[column] < cutoff)]
            if wanted:
                peer.merge_items(wanted, info["id"])
            stats.rows_sent += len(wanted)
            point = rows[-1]["ROWID"]
            batches += 1
            rows = broker.get_items_since(point, self.per_diff)
        if rows:
            stats.diff_capped += 1
            self.logger.info("replication of %s to %s: more than %d rows behind, the next "
                             "pass goes on", broker.db_file, peer, self.per_diff * batches)
            broker.merge_syncs([{"remote_id": remote_id, "sync_point": point}],
                               incoming=False)
            return False
        peer.merge_syncs(sync_points)
        broker.merge_syncs([{"remote_id": remote_id, "sync_point": point}], incoming=False)
        return True

    # --- handoffs and removal ---------------------------------------------------------------

    def _push_handoff(self, broker: BrokerT, part: int, primaries: list[Device],
                      info: dict[str, Any]) -> None:
        # every primary, ours included when only the partition was wrong (our own
        # server then gets the database at its right place, over HTTP like any peer)
        results = [self._sync_or_log(broker, node, part, info) for node in primaries]
        if primaries and all(results):
            if self.remove_db(broker, info["max_row"]):
                self.stats.removed_handoffs += 1
                self.logger.info("removed handoff %s: every primary has it", broker.db_file)

    def remove_db(self, broker: BrokerT, expected_max_row: int) -> bool:
        """Remove a database that has nothing left to give; False if it changed since
        (:func:`oiofs.common.db.removal.remove_db`)."""
        return remove_db(broker, expected_max_row, self.logger)


def _device_of(db_file: str) -> str:
    """The device name of a db file ``<devices>/<dev>/<datadir>/<part>/<sfx>/<hash>/f``."""
    return db_file.rsplit(os.sep, 6)[-6]
