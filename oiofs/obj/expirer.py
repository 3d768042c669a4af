"""``object-expirer``: deletes objects whose ``X-Delete-At`` has passed, from the queue.

Reads already answer 404 once an object's time has passed; the expirer is what reclaims
its space and removes it from its container's listing. It works from the expiry queue
(:mod:`oiofs.common.expiring`) that object servers fill, talking directly to the storage
servers through the rings. Each pass:

1. lists the containers of the hidden account ``.expiring_objects`` on every account
   primary (the union: one replica may not have heard of a container yet). The queue
   containers reach the account through the container updater, like any container;
2. for each container whose time has come (its name, a time, is not in the future),
   lists its rows from one container replica that answers, page by page, and stops at
   the first row still in the future (rows sort by time);
3. for each due row it is in charge of (:func:`oiofs.common.system_queue.handles_row`),
   sends ``DELETE`` for the object to its primaries with ``X-Timestamp: <delete_at>`` (a
   write made after that time wins), ``X-If-Delete-At: <delete_at>`` (an object rewritten
   with another expiry, or none, answers 412 and stays) and container update headers (the
   object servers remove it from its container's listing). Once a quorum of primaries gave
   a final answer (2xx, 404, 409 or 412) the queue row is deleted from the queue
   container's primaries. A primary that was down gets the tombstone from replication;
4. removes a queue container once it is empty and its whole time span has passed (no row
   can be added to it any more).

Which expirer handles a row: with ``processes`` = 0 (default) the object servers of the
object rings are numbered in (ip, port) order and this node takes the rows whose hash
falls on its number; with ``processes`` = N and ``process`` = i (0 <= i < N), set by the
operator, it takes share i of N. Either way, a row left ``takeover_delay`` seconds past
its time is taken over by the next expirer (its owner is down or behind). Handling a row
twice is harmless. Killing the expirer at any moment loses nothing: a row is only removed
after its object is deleted, and deleting it again answers 404 or 412.

Options (``[object-expirer]``, with ``[DEFAULT]``): ``oiofs_dir``, ``bind_ip``,
``bind_port``, ``interval`` (300 s), ``concurrency`` (4 rows at once),
``tasks_per_second`` (50; 0 no limit), ``processes`` (0), ``process`` (0),
``takeover_delay`` (3600 s; 0 never), ``expiring_objects_container_divisor`` (86400),
``conn_timeout`` (0.5 s), ``node_timeout`` (10 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    CLEAN_QUEUE_HEADER,
    CONTAINER_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.backend_protocol import majority as quorum
from oiofs.common.config import conf_float, conf_int, oiofs_dir
from oiofs.common.daemon import PassStats
from oiofs.common.direct_client import backend_path, direct_status
from oiofs.common.expiring import (
    DEFAULT_DIVISOR,
    EXPIRING_ACCOUNT,
    QueueEntry,
    parse_queue_object,
    policy_of_row,
)
from oiofs.common.ratelimit import RateLimiter
from oiofs.common.ring import Ring
from oiofs.common.ring.policy_rings import ObjectRings
from oiofs.common.storage_policy import POLICIES
from oiofs.common.system_queue import PAGE_SIZE, QueueDaemon, SystemQueue, handles_row
from oiofs.common.timestamp import Timestamp

#: object DELETE answers that settle a row: deleted, already gone, or rewritten since
FINAL_STATUSES = frozenset({404, 409, 412})


@dataclass
class ExpirerStats(PassStats):
    """What one pass did.

    ``found``: due rows seen; ``expired``: objects deleted (or found gone); ``rewritten``:
    objects written again since with another expiry (412/409), their row dropped;
    ``skipped``: due rows left to another expirer; ``failures``: rows kept for the next
    pass; ``invalid``: rows whose name is not a queue row, removed.
    """

    containers: int = 0
    found: int = 0
    expired: int = 0
    rewritten: int = 0
    skipped: int = 0
    failures: int = 0
    invalid: int = 0
    rows_removed: int = 0
    containers_removed: int = 0


class ObjectExpirer(QueueDaemon):
    """Deletes expired objects listed in the expiry queue; see the module docstring.

    ``clock`` gives the current time (seconds since the epoch) that rows are compared
    with; tests drive it.
    """

    name = "object-expirer"

    def __init__(self, conf: dict, logger=None, account_ring: Ring | None = None,
                 container_ring: Ring | None = None, object_rings: dict | None = None,
                 clock=time.time, sleep=time.sleep):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 300.0)
        self.concurrency = conf_int(conf, "concurrency", 4, minimum=1)
        self.tasks_per_second = conf_float(conf, "tasks_per_second", 50.0)
        self.divisor = conf_int(conf, "expiring_objects_container_divisor", DEFAULT_DIVISOR,
                                minimum=1)
        self.oiofs_dir = oiofs_dir(conf)
        self.account_ring = account_ring or Ring(self.oiofs_dir, ring_name="account")
        self.container_ring = container_ring or Ring(self.oiofs_dir, ring_name="container")
        self._object_rings = ObjectRings(self.oiofs_dir, object_rings)
        self.clock = clock
        self.sleep = sleep
        self.stats = ExpirerStats()
        self.queue = SystemQueue(EXPIRING_ACCOUNT, self.account_ring, self.container_ring,
                                 self.name, self.logger, self.repeats, self.conn_timeout,
                                 self.node_timeout)

    # -- rings and shares ------------------------------------------------------------------

    def object_ring(self, policy_index: int) -> Ring | None:
        """The object ring of a policy (loaded on first use); ``None`` if unknown."""
        return self._object_rings.get(policy_index)

    def share_rings(self) -> list[Ring]:
        """The object rings: their object servers share the queue."""
        return [ring for ring in (self.object_ring(p.idx) for p in POLICIES) if ring]

    # -- a pass ----------------------------------------------------------------------------

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's ``object_expiration_pass`` (seconds) and ``expired_last_pass``."""
        return {"object_expiration_pass": ended - began,
                "expired_last_pass": result.expired, "object_expirer_stats": result.counters()}

    def run_once(self, **kwargs) -> ExpirerStats:
        """Handle every due queue row this expirer is in charge of; the pass's counters
        (also logged)."""
        self.stats = stats = ExpirerStats()
        share = self.share_or_warn()
        if share is None:
            return stats
        index, count = share
        now = self.clock()
        limiter = RateLimiter(self.tasks_per_second, sleep=self.sleep)
        names = self.queue_containers()
        for name in sorted(names, key=lambda n: (len(n), n)):
            if self.stopping:
                break
            if not name.isdigit() or not name.isascii():
                self.logger.warning("%s: %s/%s is not a queue container", self.name,
                                    EXPIRING_ACCOUNT, name)
                continue
            if int(name) > now:
                continue
            stats.containers += 1
            left = self.process_container(name, now, index, count, limiter)
            if left == 0 and int(name) + self.divisor <= now:
                self.delete_container(name)
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def queue_containers(self) -> set[str]:
        """The queue container names any account primary lists."""
        return self.queue.containers()

    def list_rows(self, container: str, marker: str) -> list[dict] | None:
        """A page of a queue container's rows after ``marker``
        (:meth:`~oiofs.common.system_queue.SystemQueue.list_rows`)."""
        return self.queue.list_rows(container, marker)

    def process_container(self, container: str, now: float, index: int, count: int,
                          limiter: RateLimiter) -> int:
        """Handle the due rows of one queue container that are ours; how many rows are
        left in it (future, someone else's, failed, or unknown because a listing failed)."""
        stats = self.stats
        outcome = {"failed": 0}
        left = 0
        pool = runtime.GreenPool(self.concurrency)
        marker = ""
        while not self.stopping:
            rows = self.list_rows(container, marker)
            if rows is None:
                left += 1
                break
            future = False
            for row in rows:
                name = row["name"]
                marker = name
                try:
                    entry = parse_queue_object(name)
                except ValueError:
                    if handles_row(container, name, index, count, 0, 0):
                        stats.invalid += 1
                        self.logger.error("%s: removing %s/%s: not a queue row", self.name,
                                          container, name)
                        pool.spawn_n(self._remove_row_counted, container, name, outcome)
                    else:
                        left += 1
                    continue
                if entry.delete_at > now:
                    future = True
                    break
                stats.found += 1
                if not handles_row(container, name, index, count, now - entry.delete_at,
                                   self.takeover_delay):
                    stats.skipped += 1
                    left += 1
                    continue
                limiter.wait()
                pool.spawn_n(self._expire_counted, container, row, entry, outcome)
            if future:
                left += 1
                break
            if len(rows) < PAGE_SIZE:
                break
        pool.waitall()
        return left + outcome["failed"]

    # -- one row ---------------------------------------------------------------------------

    def _expire_counted(self, container: str, row: dict, entry: QueueEntry,
                        outcome: dict) -> None:
        try:
            done = self.expire_row(container, row, entry)
        except Exception:  # one bad row must not end the pass
            self.logger.exception("%s: cannot expire %s/%s", self.name, container,
                                  row.get("name"))
            done = False
        if not done:
            self.stats.failures += 1
            outcome["failed"] += 1

    def _remove_row_counted(self, container: str, name: str, outcome: dict) -> None:
        if not self.remove_row(container, name):
            self.stats.failures += 1
            outcome["failed"] += 1

    def expire_row(self, container: str, row: dict, entry: QueueEntry) -> bool:
        """Delete the object of one due row, then the row; True if both are done."""
        try:
            policy_index = policy_of_row(row.get("content_type"))
        except ValueError as err:
            self.logger.error("%s: %s/%s: %s", self.name, container, row["name"], err)
            return False
        ring = self.object_ring(policy_index)
        if ring is None:
            self.logger.error("%s: %s/%s: unknown storage policy %s", self.name, container,
                              row["name"], policy_index)
            return False
        part, nodes = ring.get_nodes(entry.account, entry.container, entry.obj)
        cpart, cnodes = self.container_ring.get_nodes(entry.account, entry.container)
        updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, len(nodes),
                                      quorum(len(cnodes)), quorum(len(nodes)))
        base = {
            "X-Timestamp": Timestamp(entry.delete_at).internal,
            "X-If-Delete-At": str(entry.delete_at),
            POLICY_INDEX_HEADER: str(policy_index),
            CLEAN_QUEUE_HEADER: "no",
            "User-Agent": self.name,
        }
        pile = runtime.GreenPile(len(nodes))
        for node, update in zip(nodes, updates, strict=True):
            pile.spawn(self._request, node, "DELETE", backend_path(
                node["device"], part, entry.account, entry.container, entry.obj),
                dict(base, **update))
        statuses = [s for s in pile if s is not None]
        final = [s for s in statuses if 200 <= s < 300 or s in FINAL_STATUSES]
        if len(final) < quorum(len(nodes)):
            self.logger.warning("%s: /%s/%s/%s not expired (answers %s); retried next pass",
                                self.name, entry.account, entry.container, entry.obj,
                                statuses)
            return False
        if any(200 <= s < 300 or s == 404 for s in final):
            self.stats.expired += 1
        else:
            self.stats.rewritten += 1
        return self.remove_row(container, row["name"])

    def remove_row(self, container: str, name: str) -> bool:
        """Delete a row from its queue container's primaries; True once a quorum did."""
        if self.queue.remove_row(container, name):
            self.stats.rows_removed += 1
            return True
        return False

    def delete_container(self, container: str) -> bool:
        """Delete an empty, past queue container (telling the account); True if a quorum
        of its replicas did (a replica holding a late row answers 409 and keeps it)."""
        if self.queue.delete_container(container):
            self.stats.containers_removed += 1
            return True
        return False

    def _request(self, node: dict, method: str, path: str, headers: dict) -> int | None:
        """The status of one request, or ``None`` if the node could not be reached."""
        return direct_status(node, method, path, headers, self.conn_timeout,
                             self.node_timeout, self.logger, self.name, self.repeats)
