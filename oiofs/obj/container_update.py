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
An update that fails - error status, timeout, refused connection - calls ``save_pending``
(once per write, even when several fail) to leave an async pending for the updater; an
update still running when the wait ends does so by itself later if it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from oiofs.common import runtime
from oiofs.common.backend_protocol import UpdateTarget
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.direct_client import backend_path
from oiofs.common.exceptions import OiofsError
from oiofs.common.logger import RepeatLimiter


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
                 update_timeout: float, repeat_interval: float = 10.0):
        self.logger = logger
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
        path = backend_path(target.device, target.partition, account, container, obj)
        try:
            resp = self.pool.request(target.ip, target.port, op, path,
                                     {**headers, "Content-Length": "0"})
            resp.discard()  # reads the small answer to its end: the connection is reused
        except (OiofsError, OSError, runtime.Timeout) as err:
            self.repeats.log(self.logger, logging.WARNING, f"{target.ip}:{target.port}",
                             "container update %s %s:%s%s failed: %s", op, target.ip,
                             target.port, path, err)
            failed()
            return
        if not 200 <= resp.status < 300:
            self.repeats.log(self.logger, logging.WARNING, f"{target.ip}:{target.port}",
                             "container update %s %s:%s%s answered %d", op, target.ip,
                             target.port, path, resp.status)
            failed()
