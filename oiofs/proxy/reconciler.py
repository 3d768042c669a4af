"""``container-reconciler``: moves misplaced objects into their container's policy.

The container replicator queues every object row whose storage policy is not its
container's in the hidden account ``.misplaced_objects``
(:mod:`oiofs.common.reconciler_queue`). Each pass of the reconciler walks that queue
(:class:`~oiofs.common.system_queue.SystemQueue`, shared with the object expirer) and,
for each row it is in charge of:

1. finds the container's policy as its replicas settle it: a ``HEAD`` to every container
   primary (once a pass per container), the winner picked by
   :func:`oiofs.common.policy_choice.best_policy`. A row whose object is in that policy
   already is only removed;
2. for an object (``application/x-put``): reads it from the policy it is in (newest
   replica); if that copy is older than the row, the row waits for replication. Unless
   the right policy already holds a version at least as new, it writes the object there,
   streamed, with its metadata, at the source's timestamp **plus offset 2**; then it
   deletes the misplaced copy with a tombstone at the source's timestamp **plus offset
   1** (newer than the copy it removes, older than the moved copy, and older than any
   later write: offsets order events that share one time). A misplaced object that has
   expired is only deleted. "Holds a version" means a GET opens it: an erasure-coded
   copy that a killed move made durable on fewer than ``k`` nodes shows in a HEAD but
   cannot be read, so the copy is written again one offset after it;
3. for a deletion (``application/x-delete``): deletes the object in the right policy at
   the row's timestamp (a newer version there answers 409 and stays);
4. removes the row, at its own timestamp plus one offset (a newer row for the same name,
   queued meanwhile, survives); a queue container left empty once its hour has passed is
   deleted (the replicator creates it again if it queues an old row there later).

Each step is idempotent and comes after the one it depends on, so the reconciler may be
killed at any moment: the row stays queued until the end, and the object is readable in
at least one policy throughout (the moved copy is durable on a quorum before the
misplaced one is deleted). The offsets make the moved copy's own bookkeeping converge:
the tombstone of step 2 makes a misplaced deletion row, which step 3 applies as a no-op.

Objects are read and written through the proxy's own code, in this process: an
:class:`~oiofs.proxy.server.Application` without any middleware, whose object requests
take the policy from the ``oiofs.policy_index`` environ key instead of the container's
(:data:`~oiofs.proxy.controllers.base.POLICY_INDEX_KEY`), so erasure-coded and replicated
policies are both moved by their one writer and reader. This module lives with the proxy
for that reason (servers may not import the proxy); Swift's reconciler does the same
through its internal client.

Which reconciler handles a row: the container servers of the container ring are
numbered in (ip, port) order and this node takes the rows whose hash falls on its number
(:func:`oiofs.common.system_queue.handles_row`); a row left ``takeover_delay`` seconds is
taken over by the next one. With ``processes`` = N and ``process`` = i the operator sets
the share.

Options (``[container-reconciler]`` of ``container-server.conf``, with ``[DEFAULT]``):
``oiofs_dir``, ``bind_ip``, ``bind_port``, ``interval`` (30 s), ``concurrency`` (4
objects at once), ``processes`` (0), ``process`` (0), ``takeover_delay`` (3600 s; 0
never), ``conn_timeout`` (0.5 s), ``node_timeout`` (10 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from oiofs.common import runtime
from oiofs.common.config import conf_float, conf_int
from oiofs.common.daemon import PassStats
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.policy_choice import best_policy, state_from_headers
from oiofs.common.reconciler_queue import (
    MISPLACED_ACCOUNT,
    MisplacedEntry,
    is_delete_row,
    parse_queue_object,
    queue_container_done,
    row_timestamp,
)
from oiofs.common.system_queue import (
    NETWORK_ERRORS,
    PAGE_SIZE,
    QueueDaemon,
    SystemQueue,
    handles_row,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.controllers.base import (
    BACKEND_HEADERS_KEY,
    POLICY_INDEX_KEY,
    SYNC_TIMESTAMP_KEY,
)
from oiofs.proxy.controllers.obj import STORED_HEADERS
from oiofs.proxy.middleware.subrequest import SubResponse, call, make_environ, to_wsgi
from oiofs.proxy.server import Application

#: object answers that settle a write or a delete: done, already gone, or a newer
#: version is there (the proxy answers 202 to a PUT older than what is stored)
SETTLED = frozenset({200, 201, 202, 204, 404, 409})
#: the user-visible headers of an object that a move keeps
_KEPT_PREFIXES = ("x-object-meta-",)
_KEPT_NAMES = frozenset({"content-type", "x-delete-at"} |
                        {name.lower() for name, _key in STORED_HEADERS})
_SYSMETA = "x-object-sysmeta-"
_EC_SYSMETA = "x-object-sysmeta-ec-"


@dataclass
class ReconcilerStats(PassStats):
    """What one pass did.

    ``found``: rows seen; ``moved``: objects written into the right policy; ``cleaned``:
    misplaced copies removed without a move (the right policy was newer, or they had
    expired); ``deletes``: deletion rows applied; ``skipped``: rows left to another
    reconciler; ``retried``: rows left for the next pass (source not there yet, no
    quorum...); ``already_placed``: rows whose object is in the right policy already (the
    container's policy changed back), removed; ``invalid``: rows that are not queue rows,
    removed.
    """

    containers: int = 0
    found: int = 0
    moved: int = 0
    cleaned: int = 0
    deletes: int = 0
    already_placed: int = 0
    skipped: int = 0
    retried: int = 0
    invalid: int = 0
    rows_removed: int = 0


class BodyReader:
    """A file-like ``read`` over a response body iterable (the moved object's bytes),
    so that a write through the proxy streams it without holding it whole."""

    def __init__(self, body: Any):
        self._chunks = iter(body)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left with ``size`` < 0); ``b''`` at the
        end."""
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class ContainerReconciler(QueueDaemon):
    """Moves the queued misplaced objects; see the module docstring.

    ``app`` is the in-process proxy (built from ``conf`` by default); ``clock`` gives the
    time rows are compared with (tests drive it).
    """

    name = "container-reconciler"

    def __init__(self, conf: dict, logger=None, app: Application | None = None,
                 clock=time.time):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 30.0)
        self.concurrency = conf_int(conf, "concurrency", 4, minimum=1)
        # the proxy in this process: no middleware, no client (see the module docstring)
        self.app = app or Application(conf, logger=self.logger)
        self.queue = SystemQueue(MISPLACED_ACCOUNT, self.app.account_ring,
                                 self.app.container_ring, self.name, self.logger,
                                 self.repeats, self.conn_timeout, self.node_timeout)
        self.clock = clock
        self.stats = ReconcilerStats()
        #: the policy of each container seen in this pass (looked up once a pass)
        self._policies: dict[tuple[str, str], int] = {}

    # -- shares ----------------------------------------------------------------------------

    def share_rings(self) -> list:
        """The container ring: its container servers share the queue."""
        return [self.app.container_ring]

    # -- a pass ----------------------------------------------------------------------------

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """``reconciler_pass`` (seconds) and this pass's counters."""
        return {"reconciler_pass": ended - began, "reconciler_stats": result.counters()}

    def run_once(self, **kwargs) -> ReconcilerStats:
        """Handle every queue row this reconciler is in charge of; the pass's counters
        (also logged)."""
        self.stats = stats = ReconcilerStats()
        self._policies = {}
        share = self.share_or_warn()
        if share is None:
            return stats
        index, count = share
        now = self.clock()
        for container in sorted(self.queue.containers()):
            if self.stopping:
                break
            stats.containers += 1
            left = self.process_container(container, now, index, count)
            if left == 0 and queue_container_done(container, now):
                self.queue.delete_container(container)  # 409 while a row is left
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def process_container(self, container: str, now: float, index: int, count: int) -> int:
        """Handle the rows of one queue container that are ours; how many are left."""
        stats = self.stats
        left = {"rows": 0}
        pool = runtime.GreenPool(self.concurrency)
        marker = ""
        while not self.stopping:
            rows = self.queue.list_rows(container, marker)
            if rows is None:
                left["rows"] += 1
                break
            for row in rows:
                marker = row["name"]
                stats.found += 1
                try:
                    overdue = now - float(row_timestamp(row.get("hash") or ""))
                except ValueError:
                    overdue = 0.0
                if not handles_row(container, row["name"], index, count, overdue,
                                   self.takeover_delay):
                    stats.skipped += 1
                    left["rows"] += 1
                    continue
                pool.spawn_n(self._handle_counted, container, row, left)
            if len(rows) < PAGE_SIZE:
                break
        pool.waitall()
        return left["rows"]

    def _handle_counted(self, container: str, row: dict, left: dict) -> None:
        try:
            done = self.handle_row(container, row)
        except Exception:  # one bad row must not end the pass
            self.logger.exception("%s: cannot reconcile %s/%s", self.name, container,
                                  row.get("name"))
            done = False
        if not done:
            self.stats.retried += 1
            left["rows"] += 1

    # -- one row ---------------------------------------------------------------------------

    def handle_row(self, container: str, row: dict) -> bool:
        """Reconcile one queue row, then remove it; True if both are done."""
        try:
            entry = parse_queue_object(row["name"])
            queued_at = row_timestamp(row.get("hash") or "")
            deletion = is_delete_row(row.get("content_type"))
        except ValueError as err:
            self.stats.invalid += 1
            self.logger.error("%s: removing %s/%s: %s", self.name, container, row["name"], err)
            return self.pop(container, row["name"], Timestamp.now())
        right = self.container_policy(entry.account, entry.container)
        if right is None:
            self.logger.warning("%s: no policy known for /%s/%s yet; retried next pass",
                                self.name, entry.account, entry.container)
            return False
        if right == entry.policy_index:
            self.stats.already_placed += 1
        elif deletion:
            if not self.apply_delete(entry, right, queued_at):
                return False
        elif not self.move(entry, right, queued_at):
            return False
        return self.pop(container, row["name"], Timestamp(queued_at, offset=1))

    def pop(self, container: str, name: str, timestamp: Timestamp) -> bool:
        """Remove a row from the queue at ``timestamp``; True once a quorum did."""
        if self.queue.remove_row(container, name, timestamp):
            self.stats.rows_removed += 1
            return True
        return False

    def container_policy(self, account: str, container: str) -> int | None:
        """The policy the container's replicas settle on (``None`` if none answered
        with its state); asked once a pass per container."""
        known = self._policies.get((account, container))
        if known is not None:
            return known
        part, nodes = self.app.container_ring.get_nodes(account, container)
        pile = runtime.GreenPile(max(len(nodes), 1))
        for node in nodes:
            pile.spawn(self._head_container, node,
                       backend_path(node["device"], part, account, container))
        policy = best_policy([state for state in pile if state is not None])
        if policy is not None:
            self._policies[(account, container)] = policy
        return policy

    def _head_container(self, node: dict, path: str) -> dict | None:
        try:
            resp = direct_request(node["ip"], node["port"], "HEAD", path,
                                  headers={"User-Agent": self.name},
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.node_timeout)
        except NETWORK_ERRORS:
            return None
        if resp.status not in (204, 404):
            return None
        return state_from_headers({k.lower(): v for k, v in resp.headers.items()})

    # -- requests through the in-process proxy ----------------------------------------------

    def _object(self, method: str, entry: MisplacedEntry, policy: int,
                headers: dict[str, str] | None = None, timestamp: Timestamp | None = None,
                body=None, length: int | None = None,
                sysmeta: dict[str, str] | None = None) -> SubResponse:
        path = to_wsgi(f"/v1/{entry.account}/{entry.container}/{entry.obj}")
        env = make_environ({}, method, path, headers=dict(headers or {}, **{
            "User-Agent": self.name}), body_file=body, length=length)
        env[POLICY_INDEX_KEY] = policy
        if timestamp is not None:
            env[SYNC_TIMESTAMP_KEY] = timestamp.internal
        if sysmeta:
            env[BACKEND_HEADERS_KEY] = sysmeta
        return call(self.app, env)

    @staticmethod
    def _timestamp(resp: SubResponse) -> Timestamp | None:
        value = resp.headers.get("x-backend-data-timestamp") or resp.headers.get(
            "x-backend-timestamp") or resp.headers.get("x-timestamp")
        return Timestamp(value) if value else None

    def move(self, entry: MisplacedEntry, right: int, queued_at: Timestamp) -> bool:
        """Copy a misplaced object into policy ``right`` (unless a version at least as
        new is there) and delete the misplaced copy; True when both are done."""
        who = f"/{entry.account}/{entry.container}/{entry.obj}"
        source = self._object("GET", entry, entry.policy_index, {"X-Newest": "true"})
        if source.status == 404:
            source.close()
            self.stats.cleaned += 1  # moved and cleaned before, or deleted since
            return True
        if source.status != 200:
            source.close()
            self.logger.warning("%s: %s: GET in policy %s answered %s", self.name, who,
                                entry.policy_index, source.status)
            return False
        try:
            source_ts = self._timestamp(source)
            if source_ts is None or source_ts < queued_at:
                self.logger.info("%s: %s: policy %s holds an older copy than queued; "
                                 "retried next pass", self.name, who, entry.policy_index)
                return False
            copy_ts = Timestamp(source_ts, offset=2)
            if not self._copy(entry, right, source, copy_ts, who):
                return False
        finally:
            source.close()
        # the moved copy is durable on a quorum: the misplaced one may go now
        resp = self._object("DELETE", entry, entry.policy_index,
                            timestamp=Timestamp(source_ts, offset=1))
        resp.close()
        if resp.status not in SETTLED:
            self.logger.warning("%s: %s: DELETE in policy %s answered %s", self.name, who,
                                entry.policy_index, resp.status)
            return False
        return True

    def _copy(self, entry: MisplacedEntry, right: int, source: SubResponse,
              copy_ts: Timestamp, who: str) -> bool:
        """Write ``source`` into policy ``right`` at ``copy_ts``, unless that policy holds
        a version at least as new or the object expired; True if nothing is left to do
        before the misplaced copy goes."""
        headers = source.headers
        delete_at = headers.get("x-delete-at")
        if delete_at and delete_at.isdigit() and int(delete_at) <= self.clock():
            self.stats.cleaned += 1  # expired: it is only deleted
            return True
        dest = self._object("HEAD", entry, right, {"X-Newest": "true"})
        dest.close()
        dest_ts = self._timestamp(dest) if dest.status // 100 == 2 else None
        if dest_ts is not None and dest_ts >= copy_ts:
            if self._readable(entry, right, dest_ts):
                self.stats.cleaned += 1
                return True
            # A version there that a HEAD sees but a GET cannot read: an earlier move
            # killed while it committed an erasure-coded copy (fewer than k archives made
            # durable). Write the copy again, just after it, so that it wins.
            copy_ts = Timestamp(dest_ts, offset=1)
        kept = {name: value for name, value in headers.items()
                if name in _KEPT_NAMES or name.startswith(_KEPT_PREFIXES)}
        if headers.get("etag"):
            kept["ETag"] = headers["etag"].strip('"')
        sysmeta = {name: value for name, value in headers.items()
                   if name.startswith(_SYSMETA) and not name.startswith(_EC_SYSMETA)}
        length = int(headers.get("content-length", "0"))
        resp = self._object("PUT", entry, right, kept, copy_ts, BodyReader(source.body),
                            length, sysmeta)
        resp.close()
        if resp.status == 201:
            self.stats.moved += 1
            return True
        if resp.status == 202:  # a newer version (or tombstone) is there already
            self.stats.cleaned += 1
            return True
        self.logger.warning("%s: %s: PUT in policy %s answered %s", self.name, who, right,
                            resp.status)
        return False

    def _readable(self, entry: MisplacedEntry, policy: int, timestamp: Timestamp) -> bool:
        """True if a GET in ``policy`` opens the object's version ``timestamp`` (or a
        newer one); the body is not read."""
        resp = self._object("GET", entry, policy, {"X-Newest": "true"})
        try:
            stamp = self._timestamp(resp) if resp.status == 200 else None
            return stamp is not None and stamp >= timestamp
        finally:
            resp.close()

    def apply_delete(self, entry: MisplacedEntry, right: int, queued_at: Timestamp) -> bool:
        """Apply a misplaced deletion in policy ``right`` at its own time; True once
        settled (deleted, nothing there, or a newer version there)."""
        resp = self._object("DELETE", entry, right, timestamp=queued_at)
        resp.close()
        if resp.status in SETTLED:
            self.stats.deletes += 1
            return True
        self.logger.warning("%s: /%s/%s/%s: DELETE in policy %s answered %s", self.name,
                            entry.account, entry.container, entry.obj, right, resp.status)
        return False
