"""A queue kept as rows of a hidden account's containers, read and written directly.

The cluster's daemons keep work queues as object rows of hidden accounts (names starting
with ``.``, which the proxy refuses to clients and the container servers create on first
use): the expiry queue ``.expiring_objects`` (:mod:`oiofs.common.expiring`) and the
misplaced-objects queue ``.misplaced_objects`` (:mod:`oiofs.common.reconciler_queue`).
:class:`SystemQueue` is the I/O both share, straight to the storage servers through the
account and container rings:

* :meth:`SystemQueue.containers`: the queue containers any account primary lists (the
  union: one replica may not have heard of a container yet);
* :meth:`SystemQueue.list_rows`: a page of a queue container from one replica;
* :meth:`SystemQueue.add_row` / :meth:`SystemQueue.remove_row`: a row written to or
  deleted from a quorum of the queue container's primaries (rows live in policy 0);
* :meth:`SystemQueue.create_container` / :meth:`SystemQueue.delete_container`: a queue
  container created or removed, the account told at once.

Every write is idempotent: a row written twice, or removed twice, leaves the same state.

Every node runs the daemon of a queue; :func:`handles_row` says which one handles a row
(each node's number from :func:`queue_share`), so a row is normally handled once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from hashlib import md5
from typing import Any

from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    ACCOUNT_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.backend_protocol import majority as quorum
from oiofs.common.config import conf_float, conf_int
from oiofs.common.daemon import Daemon
from oiofs.common.direct_client import backend_path, direct_request, direct_status
from oiofs.common.exceptions import (
    ClientException,
    ConfigError,
    ConnectionTimeout,
    NodeTimeout,
)
from oiofs.common.local_devices import local_devices, whataremyips
from oiofs.common.logger import RepeatLimiter, node_key
from oiofs.common.ring import Ring
from oiofs.common.timestamp import Timestamp

#: rows or containers asked for per listing request
PAGE_SIZE = 1000
#: queue rows are all written in this policy, whatever their object's
QUEUE_POLICY = "0"
#: what a queue row records besides its name (the container server needs size and ETag)
ROW_ETAG = "d41d8cd98f00b204e9800998ecf8427e"  # MD5 of nothing
NETWORK_ERRORS = (ConnectionTimeout, NodeTimeout, ClientException)
#: a listing of an account or container the server does not have (an empty list, but
#: told apart from a real empty listing: another replica may have rows)
MISSING: list[dict[str, Any]] = []


class SystemQueue:
    """The queue of hidden account ``account``, for daemon ``who`` (in its log lines)."""

    def __init__(self, account: str, account_ring: Ring, container_ring: Ring, who: str,
                 logger: logging.Logger, repeats: RepeatLimiter | None = None,
                 conn_timeout: float = 0.5, node_timeout: float = 10.0):
        self.account = account
        self.account_ring = account_ring
        self.container_ring = container_ring
        self.who = who
        self.logger = logger
        self.repeats = repeats or RepeatLimiter(0)
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout

    # --- reading ------------------------------------------------------------------------

    def containers(self) -> set[str]:
        """The queue container names any account primary lists."""
        part, nodes = self.account_ring.get_nodes(self.account)
        names: set[str] = set()
        for node in nodes:
            marker = ""
            while True:
                rows = self._listing(node, backend_path(node["device"], part, self.account),
                                     marker)
                if not rows:  # failed (logged), missing, or the end
                    break
                names.update(row["name"] for row in rows)
                marker = rows[-1]["name"]
                if len(rows) < PAGE_SIZE:
                    break
        return names

    def _listing(self, node: dict[str, Any], path: str, marker: str
                 ) -> list[dict[str, Any]] | None:
        """One JSON listing page from one server; ``None`` if it failed, :data:`MISSING`
        if the server has no such account or container."""
        try:
            resp = direct_request(node["ip"], node["port"], "GET", path,
                                  headers={"User-Agent": self.who},
                                  query={"format": "json", "marker": marker,
                                         "limit": str(PAGE_SIZE)},
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.node_timeout)
        except NETWORK_ERRORS as err:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "%s: listing %s:%s%s failed: %s", self.who, node["ip"],
                             node["port"], path, err)
            return None
        if resp.status == 204:
            return []
        if resp.status == 404:
            return MISSING
        if resp.status != 200:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "%s: listing %s:%s%s answered %s", self.who,
                             node["ip"], node["port"], path, resp.status)
            return None
        rows: list[dict[str, Any]] = resp.json()
        return rows

    def list_rows(self, container: str, marker: str) -> list[dict[str, Any]] | None:
        """A page of a queue container's rows after ``marker``, from the first replica
        that answers (in random order, to spread the load); ``[]`` if no replica has the
        container, ``None`` if none could answer."""
        part, nodes = self.container_ring.get_nodes(self.account, container)
        nodes = list(nodes)
        random.shuffle(nodes)
        failed = False
        for node in nodes:
            path = backend_path(node["device"], part, self.account, container)
            rows = self._listing(node, path, marker)
            if rows is None:
                failed = True
            elif rows is not MISSING:
                return rows
        return None if failed else []

    # --- writing ------------------------------------------------------------------------

    def _to_quorum(self, method: str, container: str, name: str | None,
                   headers: dict[str, str], found_ok: bool = True) -> bool:
        """Send one request to every primary of a queue container (or of one of its
        rows); True once a quorum answered 2xx (or 404, with ``found_ok``)."""
        part, nodes = self.container_ring.get_nodes(self.account, container)
        per_node: list[dict[str, str]] = [dict(headers) for _ in nodes]
        if name is None and method in ("PUT", "DELETE"):
            # the account hears of the container's creation or removal at once
            apart, anodes = self.account_ring.get_nodes(self.account)
            updates = deal_update_headers(ACCOUNT_UPDATE, apart, anodes, len(nodes),
                                          quorum(len(anodes)), quorum(len(nodes)))
            for slot, update in zip(per_node, updates, strict=True):
                slot.update(update)
        pile = runtime.GreenPile(max(len(nodes), 1))
        for node, slot in zip(nodes, per_node, strict=True):
            path = backend_path(node["device"], part, self.account, container, name)
            pile.spawn(direct_status, node, method, path, slot, self.conn_timeout,
                       self.node_timeout, self.logger, self.who, self.repeats)
        done = sum(1 for s in pile
                   if s is not None and (200 <= s < 300 or (found_ok and s == 404)))
        return done >= quorum(len(nodes))

    def add_row(self, container: str, name: str, timestamp: Timestamp,
                content_type: str, etag: str = ROW_ETAG) -> bool:
        """Write a row on a quorum of the queue container's primaries (created there
        on first use); True if it is recorded. ``etag`` is the row's ``hash`` in
        listings (a queue may keep a value of its own there)."""
        headers = {"X-Timestamp": timestamp.internal, "X-Size": "0",
                   "X-Content-Type": content_type, "X-Etag": etag,
                   POLICY_INDEX_HEADER: QUEUE_POLICY, "User-Agent": self.who}
        return self._to_quorum("PUT", container, name, headers, found_ok=False)

    def remove_row(self, container: str, name: str, timestamp: Timestamp | None = None
                   ) -> bool:
        """Delete a row from a quorum of the queue container's primaries, at
        ``timestamp`` (now by default: a row written again later than it survives)."""
        headers = {"X-Timestamp": (timestamp or Timestamp.now()).internal,
                   POLICY_INDEX_HEADER: QUEUE_POLICY, "User-Agent": self.who}
        return self._to_quorum("DELETE", container, name, headers)

    def create_container(self, container: str) -> bool:
        """Create a queue container on a quorum of its primaries and tell the account
        (so that the queue's readers list it without waiting for the updater)."""
        headers = {"X-Timestamp": Timestamp.now().internal,
                   POLICY_INDEX_HEADER: QUEUE_POLICY, "User-Agent": self.who}
        return self._to_quorum("PUT", container, None, headers, found_ok=False)

    def delete_container(self, container: str) -> bool:
        """Delete an empty queue container (telling the account); True if a quorum of
        its replicas did (a replica holding a late row answers 409 and keeps it)."""
        headers = {"X-Timestamp": Timestamp.now().internal, "User-Agent": self.who}
        return self._to_quorum("DELETE", container, None, headers)


# --- shares: which of the queue's daemons handles a row -----------------------------

def row_owner_hash(container: str, row: str) -> int:
    """A stable number for a queue row, the same on every node (no secret involved)."""
    digest = md5(f"{container}/{row}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


def handles_row(container: str, row: str, index: int, count: int, overdue: float,
                takeover_delay: float) -> bool:
    """True if expirer ``index`` of ``count`` should handle this row now.

    Each row has one owner, ``row_hash % count``. A row still there ``takeover_delay``
    seconds after its delete-at time (its owner is down, or far behind) is also handled by
    the next expirer, after twice that by the next one too, and so on: nothing waits for a
    dead node forever, and a late row is never handled by everyone at once. Handling a row
    twice is harmless (the second DELETE answers 404 or 412 and the row goes).
    ``takeover_delay`` <= 0 turns take-over off; ``count`` <= 1 handles everything.
    """
    if count <= 1:
        return True
    owners = 1
    if takeover_delay > 0 and overdue > 0:
        owners += int(overdue // takeover_delay)
    if owners >= count:
        return True
    return (index - row_owner_hash(container, row)) % count < owners


def queue_share(rings: Iterable[Ring], bind_ip: str | None, bind_port: int
                ) -> tuple[int, int]:
    """``(index, count)`` of this node among the servers of ``rings`` (the distinct
    (ip, port) of their devices, in that order), for :func:`handles_row`; index -1 when
    this node serves none of their devices."""
    servers: set[tuple[str, int]] = set()
    mine: set[tuple[str, int]] = set()
    my_ips = whataremyips(bind_ip)
    for ring in rings:
        servers.update((d["ip"], int(d["port"])) for d in ring.devs if d)
        mine.update((d["ip"], int(d["port"])) for d in local_devices(ring, my_ips, bind_port))
    ordered = sorted(servers)
    for index, server in enumerate(ordered):
        if server in mine:
            return index, len(ordered)
    return -1, len(ordered)


class QueueDaemon(Daemon):
    """Base of the daemons that work through a :class:`SystemQueue` on every node.

    Reads the options they share: ``processes``/``process`` (the operator's share; 0
    numbers the servers of :meth:`share_rings` instead, :func:`queue_share`),
    ``takeover_delay``, ``conn_timeout``, ``node_timeout``, ``bind_ip``/``bind_port``.
    """

    def __init__(self, conf: dict[str, Any], logger: logging.Logger | None = None):
        super().__init__(conf, logger)
        self.processes = conf_int(conf, "processes", 0, minimum=0)
        self.process = conf_int(conf, "process", 0, minimum=0)
        if self.processes and self.process >= self.processes:
            raise ConfigError(f"process {self.process} is not below processes "
                              f"{self.processes}")
        self.takeover_delay = conf_float(conf, "takeover_delay", 3600.0)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.bind_ip: str | None = conf.get("bind_ip")
        self.bind_port = conf_int(conf, "bind_port", 0)

    def share_rings(self) -> list[Ring]:
        """The rings whose servers share the queue's work (subclasses)."""
        raise NotImplementedError

    def my_share(self) -> tuple[int, int]:
        """``(index, count)``: this daemon is number ``index`` of ``count``; index -1 when
        this node serves no device of :meth:`share_rings` (it then does nothing)."""
        if self.processes:
            return self.process, self.processes
        return queue_share(self.share_rings(), self.bind_ip, self.bind_port)

    def share_or_warn(self) -> tuple[int, int] | None:
        """:meth:`my_share`, or ``None`` (logged) when this node has no share."""
        index, count = self.my_share()
        if index < 0:
            self.logger.warning("%s: no device of the rings is served at %s:%s; nothing "
                                "to do", self.name, self.bind_ip, self.bind_port)
            return None
        return index, count
