"""``account-reaper``: empties the accounts a reseller admin deleted.

``DELETE /v1/<account>`` (reseller admin, ``allow_account_management``) only marks the
account's databases deleted (``status = DELETED``): its HEAD, GET and POST answer 404
with ``X-Account-Status: Deleted``, a PUT answers 403 until the database is gone. The
reaper then removes what the account held. Each pass walks the local account databases
and, for every deleted one whose deletion is older than ``delay_reaping`` seconds:

1. lists the account's containers from the local database; the account's primaries
   share the work: the replica at index ``i`` among them reaps the containers whose
   name hash falls on ``i`` (``hash % replicas``), as Swift shares it;
2. for each container, lists its objects page by page from every container replica
   that answers, as one sorted union (a replica that missed some object updates must
   not hide those objects; the storage policy from the first answer), and sends
   ``DELETE`` with a current ``X-Timestamp`` to every primary of each object (with
   container update headers, so the container rows go too); a primary that failed is
   asked once more; a quorum of 2xx/404 is done (a primary that missed the DELETE gets
   the tombstone from the object replicator, as after any write);
3. once a container listing comes back empty, sends ``DELETE`` for the container to its
   primaries, with account update headers and ``X-Account-Override-Deleted: yes`` (the
   deleted account still records the container as deleted). A replica still holding a
   row answers 409; the container is tried again next pass.

Killing the reaper at any moment loses nothing: every step is a delete that is simply
sent again next pass (a 404 counts as done). What is left afterwards are tombstones and
deleted databases, removed by the replicators once older than ``reclaim_age`` (object
tombstones, then container databases once the account knows their last state, then the
account database once it lists no container), as in Swift.

With ``backend = redis`` (:mod:`oiofs.account.redis_backend`) there are no local
databases: an account DELETE queues the account in Redis's ``deleted-accounts:`` hash
when it still lists containers, and keeps its keys until the reaper is done. Each node's
reaper takes the queued accounts whose delay has passed and reaps the containers falling
on the indexes its local devices have among the account's primaries (steps 2 and 3 as
above); whichever reaper then finds the account listing no container unqueues it and lets
its keys expire after ``deleted_account_ttl``. A node that is down leaves its share for
later, as with sqlite.

The object expirer and the reaper never fight over an object: both only delete, with
timestamps that order them. The reaper's tombstone is newer than any ``X-Delete-At``
already past, so an expirer coming later gets 404/409, which settles its queue row; an
object the expirer deleted first answers the reaper 404, which counts as done. Queue
rows live in ``.expiring_objects`` (never reaped: hidden accounts cannot be deleted).

Options (``[account-reaper]``, with ``[DEFAULT]``): ``devices``, ``mount_check``,
``bind_ip``/``bind_port``, ``oiofs_dir``, ``interval`` (3600 s), ``delay_reaping``
(0 s), ``concurrency`` (25 objects at once), ``conn_timeout`` (0.5 s), ``node_timeout``
(10 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from oiofs.account.backend import AccountBroker
from oiofs.account.redis_backend import RedisAccountBackend
from oiofs.account.redis_broker import RedisAccountBroker
from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    ACCOUNT_UPDATE,
    CONTAINER_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.backend_protocol import majority as quorum
from oiofs.common.config import conf_float, conf_int, oiofs_dir
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.replication_walk import iter_db_files, local_db_devices
from oiofs.common.direct_client import backend_path, direct_request, direct_status
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    DbNotFound,
    DbQuarantined,
    NodeTimeout,
)
from oiofs.common.hashing import hash_path
from oiofs.common.local_devices import primary_index, whataremyips
from oiofs.common.ring import Ring
from oiofs.common.ring.policy_rings import ObjectRings
from oiofs.common.timestamp import Timestamp

PAGE_SIZE = 1000
NETWORK_ERRORS = (ConnectionTimeout, NodeTimeout, ClientException)


@dataclass
class ReaperStats(PassStats):
    """What one pass did."""

    accounts: int = 0
    accounts_waiting: int = 0
    accounts_done: int = 0
    containers_deleted: int = 0
    containers_remaining: int = 0
    objects_deleted: int = 0
    objects_failed: int = 0


class AccountReaper(Daemon):
    """Removes the objects and containers of deleted accounts; see the module docstring."""

    name = "account-reaper"

    def __init__(self, conf: dict, logger=None, clock=time.time):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 3600.0)
        self.devices = conf.get("devices", "/srv/node")
        self.delay_reaping = conf_float(conf, "delay_reaping", 0.0)
        self.concurrency = conf_int(conf, "concurrency", 25, minimum=1)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.oiofs_dir = oiofs_dir(conf)
        self.account_ring = Ring(self.oiofs_dir, ring_name="account")
        self.container_ring = Ring(self.oiofs_dir, ring_name="container")
        self.object_rings = ObjectRings(self.oiofs_dir)
        self.my_ips = whataremyips(conf.get("bind_ip"))
        self.bind_port = int(conf.get("bind_port", 0) or 0)
        self.clock = clock
        self.stats = ReaperStats()

    # -- a pass ----------------------------------------------------------------------------

    def run_once(self, **kwargs) -> ReaperStats:
        """Reap every deleted account of this node's devices (or, with ``backend =
        redis``, this node's share of the deleted accounts in Redis); the pass's
        counters."""
        self.stats = stats = ReaperStats()
        if str(self.conf.get("backend", "sqlite")).strip().lower() == "redis":
            self.reap_redis_accounts()
        else:
            for dev in local_db_devices(self.account_ring, self.conf, self.logger):
                for _part, db_file in iter_db_files(self.devices, dev["device"], "accounts"):
                    if self.stopping:
                        break
                    try:
                        self.reap_account_db(db_file, dev)
                    except Exception:  # one bad database must not end the pass
                        self.logger.exception("reaping %s failed", db_file)
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def _due(self, delete_timestamp) -> bool:
        """Count a deleted account; True once its ``delay_reaping`` has passed."""
        self.stats.accounts += 1
        if float(Timestamp(delete_timestamp)) + self.delay_reaping > self.clock():
            self.stats.accounts_waiting += 1
            return False
        return True

    def reap_account_db(self, db_file: str, dev: dict) -> None:
        """Reap one local account database if it is deleted and its delay has passed."""
        broker = AccountBroker(db_file, stale_reads_ok=True)
        try:
            try:
                if not broker.is_status_deleted():
                    return
                info = broker.get_info()
            except (DbNotFound, DbQuarantined):
                return
            account = info["account"]
            if not self._due(info["delete_timestamp"]):
                return
            _part, nodes = self.account_ring.get_nodes(account)
            index = primary_index(nodes, dev["device"], self.my_ips, self.bind_port)
            if index is None:
                return  # a handoff copy: the primaries reap
            if self.reap_share(broker, account, {index}, len(nodes)) == 0:
                self.stats.accounts_done += 1
                self.logger.info("%s: account %s: this replica's containers are gone",
                                 self.name, account)
        finally:
            broker.close()

    def reap_redis_accounts(self) -> None:
        """``backend = redis``: reap the accounts queued in ``deleted-accounts:``.

        Every account server shares the one Redis, so the work is shared as with sqlite:
        this node reaps the containers falling on the indexes its local devices have
        among the account's primaries. Once the account lists no container, it is
        unqueued and left to expire (whichever node sees it empty first).
        """
        store = RedisAccountBackend(self.conf)
        devices = [dev["device"] for dev in
                   local_db_devices(self.account_ring, self.conf, self.logger)]
        for account, delete_timestamp in sorted(store.deleted_accounts().items()):
            if self.stopping:
                break
            try:
                if not self._due(delete_timestamp):
                    continue
                _part, nodes = self.account_ring.get_nodes(account)
                indexes = {index for index in (
                    primary_index(nodes, device, self.my_ips, self.bind_port)
                    for device in devices) if index is not None}
                broker = RedisAccountBroker(store, account)
                if indexes and self.reap_share(broker, account, indexes, len(nodes)):
                    continue
                if store.finish_reaping(account):
                    self.stats.accounts_done += 1
                    self.logger.info("%s: account %s: every container is gone",
                                     self.name, account)
            except Exception:  # one bad account must not end the pass
                self.logger.exception("reaping account %s failed", account)

    def reap_share(self, broker, account: str, indexes: set[int], replicas: int) -> int:
        """Reap the containers ``broker`` lists whose name hash falls on one of
        ``indexes`` (``hash % replicas``); how many of them are left for a later pass."""
        left = 0
        marker = ""
        while not self.stopping:
            rows = broker.list_containers_iter(PAGE_SIZE, marker, None, None, None)
            if not rows:
                break
            for row in rows:
                name = row[0]
                marker = name
                digest = hash_path(account, name, raw_digest=True)
                if int.from_bytes(digest[:4], "big") % replicas not in indexes:
                    continue
                if not self.reap_container(account, name):
                    left += 1
            if len(rows) < PAGE_SIZE:
                break
        return left

    # -- one container ---------------------------------------------------------------------

    def reap_container(self, account: str, container: str) -> bool:
        """Delete every object of a container, then the container; True once it is gone."""
        part, nodes = self.container_ring.get_nodes(account, container)
        previous: list[str] = []
        while not self.stopping:
            listing = self._list_objects(account, container, part, nodes)
            if listing is None:
                self.stats.containers_remaining += 1
                return False
            policy, names = listing
            if not names:
                break
            if names == previous:  # rows not gone yet (updates pending): next pass
                self.stats.containers_remaining += 1
                return False
            previous = names
            pool = runtime.GreenPile(self.concurrency)
            for name in names:
                pool.spawn(self.reap_object, account, container, name, policy)
            done = list(pool)
            if not all(done):
                self.stats.containers_remaining += 1
                return False  # some objects stay: try again next pass
        if self.stopping:
            return False
        return self._delete_container(account, container, part, nodes)

    def _list_objects(self, account: str, container: str, part: int, nodes: list
                      ) -> tuple[int, list[str]] | None:
        """``(policy index, first page of object names)``, the page merged from every
        container replica that answers (the policy from the first); ``(0, [])`` if none
        has the container; ``None`` if none answered."""
        missing = 0
        policy: int | None = None
        names: set[str] = set()
        for node in nodes:
            try:
                resp = direct_request(node["ip"], node["port"], "GET", backend_path(
                    node["device"], part, account, container),
                    headers={"User-Agent": self.name},
                    query={"format": "json", "limit": str(PAGE_SIZE)},
                    conn_timeout=self.conn_timeout, response_timeout=self.node_timeout)
            except NETWORK_ERRORS as err:
                self.logger.warning("%s: listing %s/%s: %s", self.name, account, container,
                                    err)
                continue
            if resp.status == 404:
                missing += 1
                continue
            if resp.status not in (200, 204):
                continue
            if policy is None:
                policy = int(resp.headers.get(POLICY_INDEX_HEADER) or 0)
            if resp.status == 200:
                names.update(row["name"] for row in resp.json())
        if policy is None:
            return (0, []) if missing == len(nodes) else None
        # each name of the merged first page is in the first page of a replica holding it
        return policy, sorted(names)[:PAGE_SIZE]

    def reap_object(self, account: str, container: str, obj: str, policy: int) -> bool:
        """Delete one object on its primaries (and its container rows); True once a
        quorum of them answered 2xx or 404."""
        ring = self.object_rings.get(policy)
        if ring is None:
            self.logger.error("%s: /%s/%s/%s: unknown storage policy %s", self.name,
                              account, container, obj, policy)
            self.stats.objects_failed += 1
            return False
        part, nodes = ring.get_nodes(account, container, obj)
        cpart, cnodes = self.container_ring.get_nodes(account, container)
        updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, len(nodes),
                                      quorum(len(cnodes)), quorum(len(nodes)))
        base = {"X-Timestamp": Timestamp.now().internal, POLICY_INDEX_HEADER: str(policy),
                "User-Agent": self.name}
        requests = [(node, backend_path(node["device"], part, account, container, obj),
                     dict(base, **update)) for node, update in zip(nodes, updates,
                                                                   strict=True)]
        statuses: list[int | None] = [None] * len(requests)
        for _attempt in range(2):  # a node that failed is asked once more (busy a moment)
            pile = runtime.GreenPile(len(requests))
            todo = [i for i, status in enumerate(statuses) if not _deleted(status)]
            for i in todo:
                pile.spawn(self._request, requests[i][0], "DELETE", *requests[i][1:])
            for i, status in zip(todo, pile, strict=True):
                statuses[i] = status
            if all(_deleted(status) for status in statuses):
                break
        done = sum(1 for status in statuses if _deleted(status))
        if done >= quorum(len(nodes)):
            self.stats.objects_deleted += 1
            return True
        self.stats.objects_failed += 1
        return False

    def _delete_container(self, account: str, container: str, part: int,
                          nodes: list) -> bool:
        apart, anodes = self.account_ring.get_nodes(account)
        updates = deal_update_headers(ACCOUNT_UPDATE, apart, anodes, len(nodes),
                                      quorum(len(anodes)), quorum(len(nodes)))
        base = {"X-Timestamp": Timestamp.now().internal, "User-Agent": self.name,
                "X-Account-Override-Deleted": "yes"}
        pile = runtime.GreenPile(len(nodes))
        for node, update in zip(nodes, updates, strict=True):
            pile.spawn(self._request, node, "DELETE", backend_path(
                node["device"], part, account, container), dict(base, **update))
        statuses = [s for s in pile]
        done = sum(1 for status in statuses if _deleted(status))
        if done >= quorum(len(nodes)):
            self.stats.containers_deleted += 1
            return True
        self.logger.info("%s: container %s/%s not deleted yet (answers %s)", self.name,
                         account, container, statuses)
        self.stats.containers_remaining += 1
        return False

    def _request(self, node: dict, method: str, path: str, headers: dict) -> int | None:
        """The status of one request, or ``None`` if the node could not be reached."""
        return direct_status(node, method, path, headers, self.conn_timeout,
                             self.node_timeout, self.logger, self.name, self.repeats)


def _deleted(status: int | None) -> bool:
    """True if a ``DELETE`` answered that the object or container is gone there."""
    return status is not None and (200 <= status < 300 or status == 404)
