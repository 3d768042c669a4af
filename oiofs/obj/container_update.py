"""Telling container servers about object PUTs and DELETEs (backend protocol, object section).

The proxy names the container replicas in ``X-Container-Host`` (``ip:port``),
``X-Container-Device`` and ``X-Container-Partition``, read with
:func:`oiofs.common.backend_protocol.parse_update_targets`. Once the object write
is durable, :meth:`ContainerUpdateSender.update` sends ``PUT``/``DELETE /d/p/a/c/o`` to every
replica at once in green threads, waits up to ``update_timeout`` for them, and returns
either way: a slow container server never holds a client's response longer than that.
Updates go over kept-alive connections (one :class:`~oiofs.common.connection_pool.
ConnectionPool` per sender): a small PUT no longer pays a TCP connect, an accept and a new
green thread on the container server for each of its three updates. An update found on a
connection the container server had closed while idle is sent again on a fresh one (it
is timestamped, so a second delivery changes nothing).
Updates for one container database that pile up are coalesced: while a request to that
database is in flight, the updates that come for it wait, and are sent together as one
``UPDATE /d/p/a/c`` (:mod:`oiofs.common.update_batch`) as soon as it is answered: one
request, one parse and one fsynced append on the container server for all of them. An
update that finds nothing in flight goes at once, alone, so coalescing never adds a
wait on a quiet server; under load the batches grow by themselves. A container server
that does not know ``UPDATE`` (405, an older version) gets the rows one by one.
An update that fails - error status, timeout, refused connection - calls ``save_pending``
(once per write, even when several fail) to leave an async pending for the updater; an
update still running when the wait ends does so by itself later if it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from oiofs.common import runtime
from oiofs.common.backend_protocol import UpdateTarget
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.direct_client import backend_path
from oiofs.common.exceptions import OiofsError
from oiofs.common.logger import RepeatLimiter
from oiofs.common.update_batch import MAX_BATCH_ROWS, UPDATE_METHOD, UpdateRow, encode_batch


class UpdateJob(NamedTuple):
    """One update for :meth:`ContainerUpdateSender.update_many`: where, what, and how to keep it
    for the updater if it fails."""

    targets: list[UpdateTarget]
    op: str
    account: str
    container: str
    obj: str
    headers: dict[str, str]
    save_pending: Callable[[], object]


class ContainerUpdateSender:
    """Sends container updates with bounded waiting; see the module docstring."""

    def __init__(self, logger, conn_timeout: float, node_timeout: float,
                 update_timeout: float, repeat_interval: float = 10.0,
                 batching: bool = True):
        self.logger = logger
        #: coalesce the updates that pile up for one database (see the module docstring)
        self.batching = batching
        #: per database with a request in flight: the rows waiting for the next one
        self._waiting: dict[tuple, list[tuple[UpdateRow, Any]]] = {}
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout
        self.update_timeout = update_timeout
        self.pool = ConnectionPool(conn_timeout, node_timeout)
        # a container server down fails every update: one line per server per interval
        self.repeats = RepeatLimiter(repeat_interval)

    def update(self, targets: list[UpdateTarget], op: str, account: str, container: str,
               obj: str, headers: dict[str, str],
               save_pending: Callable[[], object]) -> None:
        """Send ``op`` for ``/account/container/obj`` with ``headers`` to every target."""
        self.update_many([UpdateJob(targets, op, account, container, obj, headers,
                                    save_pending)])

    def update_many(self, jobs: list[UpdateJob]) -> None:
        """Send several updates at once (a container row and expiry queue rows, say) and
        wait up to ``update_timeout`` for all of them together; each job that fails calls
        its own ``save_pending`` once."""
        threads = []
        for job in jobs:
            threads += self._spawn(*job)
        if not threads:
            return
        with runtime.Timeout(self.update_timeout, False):
            for thread in threads:
                thread.wait()

    def _spawn(self, targets: list[UpdateTarget], op: str, account: str, container: str,
               obj: str, headers: dict[str, str], save_pending: Callable[[], object]) -> list:
        if not targets:
            return []
        saved: list[bool] = []

        def failed() -> None:
            if saved:
                return
            saved.append(True)
            try:
                save_pending()
            except Exception:  # runs detached; nobody else would log it
                self.logger.exception("cannot save async pending for %s %s/%s/%s",
                                      op, account, container, obj)

        return [runtime.spawn(self._send, target, op, account, container, obj, headers,
                              failed) for target in targets]

    def _send(self, target: UpdateTarget, op: str, account: str, container: str, obj: str,
              headers: dict[str, str], failed: Callable[[], None]) -> None:
        if not self.batching:
            if not self._send_one(target, op, account, container, obj, headers):
                failed()
            return
        key = (target.ip, target.port, target.device, target.partition, account, container)
        waiting = self._waiting.get(key)
        if waiting is not None:  # a request to this database is in flight: ride the next
            done = runtime.Event()
            waiting.append((UpdateRow(op, obj, headers), done))
            if not done.wait():
                failed()
            return
        self._waiting[key] = waiting = []
        try:
            ok = self._send_one(target, op, account, container, obj, headers)
        finally:
            if waiting:  # sent by another green thread: this update's caller goes on now
                runtime.spawn_n(self._drain, key, target, account, container, waiting)
            else:
                del self._waiting[key]
        if not ok:
            failed()

    def _drain(self, key: tuple, target: UpdateTarget, account: str, container: str,
               waiting: list[tuple[UpdateRow, Any]]) -> None:
        """Send what waits for one database in batches until nothing does; tell each
        waiting update whether its row was stored."""
        try:
            while waiting:
                batch = waiting[:MAX_BATCH_ROWS]
                del waiting[:len(batch)]
                try:
                    results = self._send_rows(target, account, container,
                                              [row for row, _done in batch])
                except Exception:  # runs detached: the rows go to async pendings
                    self.logger.exception("container update batch to %s:%s failed",
                                          target.ip, target.port)
                    results = [False] * len(batch)
                for (_row, done), ok in zip(batch, results, strict=True):
                    done.send(ok)
        finally:
            del self._waiting[key]
            for _row, done in waiting:
                done.send(False)

    def _send_rows(self, target: UpdateTarget, account: str, container: str,
                   rows: list[UpdateRow]) -> list[bool]:
        """Send ``rows`` as one ``UPDATE`` (a single row as its own request); whether
        each was stored."""
        if len(rows) == 1:
            row = rows[0]
            return [self._send_one(target, row.op, account, container, row.obj, row.headers)]
        path = backend_path(target.device, target.partition, account, container)
        body = encode_batch(rows)
        status = self._request(target, UPDATE_METHOD, path, {
            "Content-Type": "application/json", "Content-Length": str(len(body))}, body)
        if status in (405, 501):  # a container server that predates UPDATE
            return [self._send_one(target, row.op, account, container, row.obj, row.headers)
                    for row in rows]
        return [status is not None and 200 <= status < 300] * len(rows)

    def _send_one(self, target: UpdateTarget, op: str, account: str, container: str,
                  obj: str, headers: dict[str, str]) -> bool:
        """Send one row as its own request; whether it was stored."""
        path = backend_path(target.device, target.partition, account, container, obj)
        status = self._request(target, op, path, {**headers, "Content-Length": "0"})
        return status is not None and 200 <= status < 300

    def _request(self, target: UpdateTarget, method: str, path: str,
                 headers: dict[str, str], body: bytes | None = None) -> int | None:
        """The status of one request to a container server (``None``: no answer);
        failures logged, at most once per server and interval."""
        try:
            resp = self.pool.request(target.ip, target.port, method, path, headers, body)
            resp.discard()  # reads the small answer to its end: the connection is reused
        except (OiofsError, OSError, runtime.Timeout) as err:
            self.repeats.log(self.logger, logging.WARNING, f"{target.ip}:{target.port}",
                             "container update %s %s:%s%s failed: %s", method, target.ip,
                             target.port, path, err)
            return None
        if not 200 <= resp.status < 300 and not (method == UPDATE_METHOD
                                                 and resp.status in (405, 501)):
            self.repeats.log(self.logger, logging.WARNING, f"{target.ip}:{target.port}",
                             "container update %s %s:%s%s answered %d", method, target.ip,
                             target.port, path, resp.status)
        return resp.status
