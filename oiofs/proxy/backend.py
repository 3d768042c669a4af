"""Requests from the proxy to the storage nodes: node order, handoffs, error limiting.

Three shapes of exchange, all over the keep-alive :class:`ConnectionPool`:

* :meth:`Backend.write` sends one request (body known in full) to every primary at once
  and collects the answers. A primary that is error-limited, refuses, times out or answers
  5xx/507 is replaced by the next handoff from the ring, which gets the same request (and
  the same container/account update headers), so a quorum is reached while a node is down.
* :meth:`Backend.read` asks one node at a time, primaries first (shuffled to spread the
  load), then handoffs, and returns the first good answer, still open for streaming.
* :meth:`Backend.read_newest` (``X-Newest``) asks every primary and keeps the newest.

Streaming writes of large bodies (``Expect: 100-continue``) use :class:`StreamingWrite`.

Requests are sent to all nodes first and the answers read afterwards: the nodes work in
parallel without one green thread per node.

Metrics (Swift's names): ``<type>.handoff_count`` for each handoff node used,
``error_limiter.incremented_limit`` / ``error_limiter.forced_limit`` when a node gets
suppressed (after repeated errors / at once, refused connection). The warning that a node
is suppressed is written at most once per node per ``repeat_interval`` seconds.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator
from typing import TypeVar

from oiofs.common.backend_protocol import TIMESTAMP_HEADER
from oiofs.common.connection_pool import ConnectionPool, HTTPConnection, HTTPResponse
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    NodeTimeout,
    NodeUnreachable,
)
from oiofs.common.logger import RepeatLimiter
from oiofs.common.metrics import Metrics
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.quorum import (
    is_node_fault,
    pick_newest,
    read_failure_status,
    response_timestamp,
)
from oiofs.proxy.scores import ScoreBoard

#: what a failed exchange with a node looks like
NODE_ERRORS = (ClientException, ConnectionTimeout, NodeTimeout)
ERROR_BODY_LIMIT = 65536
T = TypeVar("T")


class Answer:
    """A finished backend answer: status, headers (lower-case keys), small body, node."""

    __slots__ = ("status", "headers", "body", "node")

    def __init__(self, status: int, headers: dict, body: bytes, node: dict | None):
        self.status = status
        self.headers = headers
        self.body = body
        self.node = node


def node_path(node: dict, part: int, suffix: str, query: str = "") -> str:
    """The backend path ``/<device>/<part><suffix>[?<query>]`` (both already quoted)."""
    path = f"/{node['device']}/{part}{suffix}"
    return f"{path}?{query}" if query else path


class HandoffIter:
    """Handoff nodes of a partition, error-limited ones last, at most ``limit`` of them."""

    def __init__(self, ring, part: int, limiter: ErrorLimiter, limit: int,
                 metrics: Metrics | None = None):
        self._ring = ring
        self._metrics = metrics
        self._part = part
        self._limiter = limiter
        self._left = limit
        self._gen: Iterator[dict] | None = None
        self._deferred: list[dict] = []

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        gen = self._gen
        if gen is None:
            gen = self._gen = iter(self._ring.get_more_nodes(self._part))
        while self._left > 0:
            node = next(gen, None)
            if node is None:
                break
            self._left -= 1
            if self._limiter.is_limited(ErrorLimiter.key(node)):
                self._deferred.append(node)
                continue
            return self._counted(node)
        if self._deferred:
            return self._counted(self._deferred.pop(0))
        raise StopIteration

    def _counted(self, node: dict) -> dict:
        if self._metrics is not None and self._metrics.enabled:
            kind = os.path.basename(self._ring.serialized_path).split(".")[0].split("-")[0]
            self._metrics.increment(f"{kind}.handoff_count")
        return node


class Backend:
    """Talks to storage nodes for the proxy; one per proxy worker."""

    def __init__(self, pool: ConnectionPool, limiter: ErrorLimiter, logger,
                 shuffle_reads: bool = True, metrics: Metrics | None = None,
                 repeat_interval: float = 10.0, scores: ScoreBoard | None = None):
        self.pool = pool
        #: the conscience's scores (reads prefer higher ones), when a directory is set
        self.scores = scores
        self.limiter = limiter
        self.logger = logger
        self.shuffle_reads = shuffle_reads
        self.metrics = metrics or Metrics("proxy-server")
        self.repeats = RepeatLimiter(repeat_interval)

    # --- node health ------------------------------------------------------------------

    def node_error(self, node: dict, err: BaseException | str, fatal: bool = False) -> None:
        """Count a fault of ``node`` (logged when it gets suppressed)."""
        key = ErrorLimiter.key(node)
        if self.limiter.error(key, fatal=fatal):
            self.metrics.increment("error_limiter.forced_limit" if fatal
                                   else "error_limiter.incremented_limit")
            self.repeats.log(self.logger, logging.WARNING, key,
                             "node %s suppressed for %.1fs after error: %s", key,
                             self.limiter.suppression_time, err)
        else:
            self.logger.debug("node %s error: %s", key, err)

    def node_ok(self, node: dict) -> None:
        """``node`` answered (any status that is not a node fault)."""
        self.limiter.success(ErrorLimiter.key(node))

    def _send(self, node: dict, method: str, path: str, headers: dict,
              body: bytes | None, fresh: bool = False) -> HTTPConnection | None:
        self.limiter.sending(ErrorLimiter.key(node))  # the probe, if its window ended
        try:
            return self.pool.send_request(node["ip"], node["port"], method, path, headers,
                                          body, fresh)
        except NodeUnreachable as err:
            self.node_error(node, err, fatal=True)
        except NODE_ERRORS as err:
            self.node_error(node, err)
        return None

    def _response(self, conn: HTTPConnection, node: dict, method: str, path: str,
                  headers: dict, body: bytes | None) -> HTTPResponse | None:
        """The answer's head, or ``None`` (after counting the fault) if the node failed."""
        try:
            resp = self.pool.finish_request(conn, method, path, headers, body)
        except NodeUnreachable as err:
            self.node_error(node, err, fatal=True)
            return None
        except NODE_ERRORS as err:
            self.node_error(node, err)
            return None
        if is_node_fault(resp.status):
            self.node_error(node, f"{method} {path} answered {resp.status}")
            resp.discard()
            return None
        self.node_ok(node)
        return resp

    def request_one(self, node: dict, method: str, path: str, headers: dict,
                    body: bytes | None = None) -> HTTPResponse | None:
        """One request to one node; its open answer, or ``None`` if the node failed."""
        conn = self._send(node, method, path, headers, body)
        if conn is None:
            return None
        return self._response(conn, node, method, path, headers, body)

    # --- writes -----------------------------------------------------------------------

    def fill_slots(self, ring, part: int, primaries: list[dict],
                   start: Callable[[dict, int], HTTPConnection | None],
                   finish: Callable[[dict, int, HTTPConnection], T]) -> list[T | None]:
        """The slot-and-handoff loop of every write: one result per primary slot.

        ``start(node, slot)`` opens the exchange of slot ``slot`` with ``node``: a
        connection, or ``None`` when the node failed (the fault already counted).
        ``finish(node, slot, conn)`` completes it: the slot's result, or ``None`` when the
        node failed. A slot whose node fails moves on to the next handoff of the
        partition; an error-limited primary is swapped for a handoff before it is tried;
        a slot that runs out of nodes gets ``None``. Every slot is started before any is
        finished, so the nodes work in parallel without one green thread each.
        """
        handoffs = HandoffIter(ring, part, self.limiter, len(primaries), self.metrics)

        def start_at(node: dict | None, slot: int):
            while node is not None:
                conn = start(node, slot)
                if conn is not None:
                    return node, conn
                node = next(handoffs, None)
            return None, None

        started = [start_at(self._avoid(node, handoffs), slot)
                   for slot, node in enumerate(primaries)]
        results: list[T | None] = []
        for slot, (node, conn) in enumerate(started):
            result = None
            while node is not None:
                result = finish(node, slot, conn)
                if result is not None:
                    break
                node, conn = start_at(next(handoffs, None), slot)
            results.append(result)
        return results

    def _avoid(self, node: dict, handoffs: Iterator[dict]) -> dict:
        """``node``, or the next of ``handoffs`` in its place when ``node`` is
        error-limited or drained (``node`` itself when no handoff is left: the last
        resort)."""
        if self.limiter.is_limited(ErrorLimiter.key(node)):
            return next(handoffs, node)
        return node

    def update_nodes(self, ring, part: int, primaries: list[dict]) -> list[dict]:
        """The replicas of partition ``part`` that the storage servers should update
        after a write (the container replicas of an object, named in the update
        headers): ``primaries`` with the rule of the proxy's own writes, each
        error-limited or drained one replaced by the next handoff the ring gives."""
        handoffs = HandoffIter(ring, part, self.limiter, len(primaries))
        return [self._avoid(node, handoffs) for node in primaries]

    def write(self, ring, part: int, primaries: list[dict], method: str, suffix: str,
              headers_list: list[dict], body: bytes | None = None) -> list[Answer]:
        """Send the request to every primary slot at once; one :class:`Answer` per slot.

        Slot ``i`` uses ``headers_list[i]``. A slot whose node fails moves to the next
        handoff (:meth:`fill_slots`); a slot that runs out of nodes answers 503.
        """

        def start(node: dict, slot: int) -> HTTPConnection | None:
            return self._send(node, method, node_path(node, part, suffix),
                              headers_list[slot], body)

        def finish(node: dict, slot: int, conn: HTTPConnection) -> Answer | None:
            return self._answer(conn, node, method, node_path(node, part, suffix),
                                headers_list[slot], body)

        return [answer or Answer(503, {}, b"", None)
                for answer in self.fill_slots(ring, part, primaries, start, finish)]

    def _answer(self, conn: HTTPConnection, node: dict, method: str, path: str,
                headers: dict, body: bytes | None) -> Answer | None:
        """The finished :class:`Answer` of a request sent on ``conn``, or ``None`` (the
        fault counted) if the node failed."""
        resp = self._response(conn, node, method, path, headers, body)
        if resp is None:
            return None
        try:
            data = resp.read_all(ERROR_BODY_LIMIT)
        except NODE_ERRORS as err:
            self.node_error(node, err)
            return None
        return Answer(resp.status, resp.headers, data, node)

    def write_exact(self, part: int, targets: list[tuple[dict, dict] | None], method: str,
                    suffix: str) -> list[Answer]:
        """Send a bodiless request to exactly these ``(node, headers)`` (no handoffs: e.g.
        the commit of an erasure-coded PUT goes where the archive is); one answer per
        entry, 503 for a ``None`` entry or a node that failed. All sent, then all read."""
        sent: list[HTTPConnection | None] = []
        for target in targets:
            if target is None:
                sent.append(None)
                continue
            node, headers = target
            sent.append(self._send(node, method, node_path(node, part, suffix), headers,
                                   None))
        answers = []
        for target, conn in zip(targets, sent, strict=True):
            answer = None
            if target is not None and conn is not None:
                node, headers = target
                answer = self._answer(conn, node, method, node_path(node, part, suffix),
                                      headers, None)
            answers.append(answer or Answer(503, {}, b"", None))
        return answers

    def request_many(self, requests: list[tuple[dict, str, str, dict]]
                     ) -> list[HTTPResponse | None]:
        """``(node, method, path, headers)`` bodiless requests sent all at once, then
        their open answers read in order (``None`` for a node that failed, the fault
        counted), so that the nodes work in parallel."""
        sent = [self._send(node, method, path, headers, None)
                for node, method, path, headers in requests]
        return [None if conn is None else self._response(conn, node, method, path, headers,
                                                         None)
                for (node, method, path, headers), conn in zip(requests, sent, strict=True)]

    # --- reads ------------------------------------------------------------------------

    def iter_read_nodes(self, ring, part: int, primaries: list[dict], max_nodes: int):
        """Primaries (shuffled, weighted by the conscience's scores when known), then
        handoffs; error-limited and drained nodes only as a last resort."""
        if self.shuffle_reads and len(primaries) > 1:
            if self.scores is not None:
                primaries = self.scores.weighted_order(primaries)
            else:
                primaries = list(primaries)
                random.shuffle(primaries)
        deferred = []
        count = 0
        for node in primaries:
            if self.limiter.is_limited(ErrorLimiter.key(node)):
                deferred.append(node)
                continue
            count += 1
            yield node
        for node in HandoffIter(ring, part, self.limiter, max(0, max_nodes - len(primaries)),
                                self.metrics):
            count += 1
            yield node
        for node in deferred:
            if count >= max_nodes:
                return
            count += 1
            yield node

    def read(self, nodes, method: str, part: int, suffix: str, headers: dict,
             quorum: int, query: str = "", statuses: list[int] | None = None
             ) -> tuple[HTTPResponse | None, dict | None, int]:
        """The first good answer from ``nodes`` (an iterable, e.g. :meth:`iter_read_nodes`).

        Good is anything but a node fault or a 404. Returns ``(response, node, status)``:
        an open response and its node, or ``(None, None, status)`` with 404 or 503.
        ``statuses`` (extended in place) holds the answers of nodes asked before, which
        count towards that 404 or 503.
        """
        statuses = [] if statuses is None else statuses
        for node in nodes:
            resp = self.request_one(node, method, node_path(node, part, suffix, query),
                                    headers)
            if resp is None:
                statuses.append(503)
                continue
            if resp.status == 404:
                statuses.append(404)
                resp.discard()
                continue
            return resp, node, resp.status
        return None, None, read_failure_status(statuses, quorum)

    def read_newest(self, nodes, method: str, part: int, suffix: str, headers: dict,
                    quorum: int, wanted: int, query: str = "",
                    keys=(TIMESTAMP_HEADER.lower(), "x-timestamp")
                    ) -> tuple[HTTPResponse | None, dict | None, int]:
        """Like :meth:`read`, but asks ``wanted`` nodes and keeps the newest answer.

        A 404 whose tombstone is newer than every copy found wins (answer 404).
        """
        statuses: list[int] = []
        candidates: list[tuple[int, Timestamp | None]] = []
        opened: list[tuple[HTTPResponse, dict]] = []
        for node in nodes:
            if len(candidates) >= wanted:
                break
            resp = self.request_one(node, method, node_path(node, part, suffix, query),
                                    headers)
            if resp is None:
                statuses.append(503)
                continue
            statuses.append(resp.status)
            candidates.append((resp.status, response_timestamp(resp.headers, keys)))
            opened.append((resp, node))
        choice = pick_newest(candidates)
        if choice is None and candidates and not any(s == 404 for s, _ in candidates):
            choice = 0  # no copy and no 404: e.g. every node said 304 or 412
        for index, (resp, _node) in enumerate(opened):
            if index != choice:
                resp.discard()
        if choice is not None:
            resp, node = opened[choice]
            return resp, node, resp.status
        if any(200 <= s < 300 for s, _ in candidates):
            return None, None, 404  # a tombstone newer than every copy: deleted
        return None, None, read_failure_status(statuses, quorum)


class StreamingWrite:
    """A PUT whose body is streamed to several nodes (``Expect: 100-continue``).

    Each slot after ``connect``: a node that said 100 Continue, or its final answer.

    >>> sw = StreamingWrite(backend, ring, part, primaries,  # doctest: +SKIP
    ...                     suffix, headers_list, chunked)
    >>> sw.connect()                                 # doctest: +SKIP
    >>> for chunk in body: sw.send(chunk)            # doctest: +SKIP
    >>> answers = sw.finish()                        # doctest: +SKIP

    Nodes that fail before the body starts are replaced by handoffs; nodes that fail
    during the body are dropped (their copy is incomplete, the object server discards it).
    """

    def __init__(self, backend: Backend, ring, part: int, primaries: list[dict],
                 suffix: str, headers_list: list[dict], chunked: bool):
        self.backend = backend
        self.ring = ring
        self.part = part
        self.primaries = primaries
        self.suffix = suffix
        self.headers_list = headers_list
        self.chunked = chunked
        #: [node, conn, slot] of each node taking the body
        self.writers: list[list] = []
        #: per slot, in slot order: its answer once known
        self._answers: list[Answer | None] = [None] * len(primaries)

    def connect(self) -> int:
        """Open every slot (:meth:`Backend.fill_slots`); the number of nodes ready for the
        body. A slot whose node gave a final answer instead of 100 keeps that answer."""
        results = self.backend.fill_slots(self.ring, self.part, self.primaries, self._open,
                                          self._interim)
        for slot, result in enumerate(results):
            if result is None:
                self._answers[slot] = Answer(503, {}, b"", None)
            elif isinstance(result, Answer):
                self._answers[slot] = result
            else:
                self.writers.append(result + [slot])
        return len(self.writers)

    @property
    def answers(self) -> list[Answer]:
        """The answers known so far (slot order; slots still writing are left out)."""
        return [answer for answer in self._answers if answer is not None]

    def _open(self, node: dict, slot: int) -> HTTPConnection | None:
        headers = dict(self.headers_list[slot])
        headers["Expect"] = "100-continue"
        # A fresh connection: a pooled one that turned out stale could not be told from a
        # failed node once the body started, and a large body makes the handshake cheap.
        return self.backend._send(node, "PUT", node_path(node, self.part, self.suffix),
                                  headers, None, fresh=True)

    def _interim(self, node: dict, slot: int, conn: HTTPConnection) -> list | Answer | None:
        """``[node, conn]`` ready for the body after 100 Continue, an :class:`Answer` for a
        final answer, ``None`` when the node failed."""
        backend = self.backend
        try:
            resp = conn.get_response("PUT")
        except NodeUnreachable as err:
            backend.node_error(node, err, fatal=True)
            return None
        except NODE_ERRORS as err:
            backend.node_error(node, err)
            return None
        if resp.status == 100:
            return [node, conn]
        if is_node_fault(resp.status):
            backend.node_error(node, f"PUT answered {resp.status}")
            resp.close()
            return None
        backend.node_ok(node)
        try:
            body = resp.read_all(ERROR_BODY_LIMIT)
        except NODE_ERRORS:
            body = b""
        conn.close()  # the node may still expect a body it will never get
        return Answer(resp.status, resp.headers, body, node)

    def send(self, chunk: bytes) -> int:
        """Send a piece of the body to every writer; how many writers are still alive."""
        return self.send_each(lambda _slot: chunk)

    def send_each(self, chunk_of: Callable[[int], bytes | memoryview]) -> int:
        """Send each writer its own piece, ``chunk_of(slot)`` (erasure coding: fragment
        *i* goes to slot *i*); how many writers are still alive."""
        alive = []
        for writer in self.writers:
            node, conn, slot = writer
            try:
                if self.chunked:
                    conn.send_chunk(chunk_of(slot))
                else:
                    conn.send(chunk_of(slot))
            except NODE_ERRORS as err:
                self.backend.node_error(node, err)
                self._answers[slot] = Answer(503, {}, b"", node)
                conn.close()
                continue
            alive.append(writer)
        self.writers = alive
        return len(alive)

    def finish(self) -> list[Answer]:
        """End the body and collect every answer (one per slot, in slot order)."""
        if self.chunked:
            self.send(b"")
        for node, conn, slot in self.writers:
            try:
                resp = conn.get_response("PUT")
                body = resp.read_all(ERROR_BODY_LIMIT)
            except NODE_ERRORS as err:
                self.backend.node_error(node, err)
                self._answers[slot] = Answer(503, {}, b"", node)
                continue
            if is_node_fault(resp.status):
                self.backend.node_error(node, f"PUT answered {resp.status}")
            else:
                self.backend.node_ok(node)
            self._answers[slot] = Answer(resp.status, resp.headers, body, node)
        self.writers = []
        return [answer or Answer(503, {}, b"", None) for answer in self._answers]

    def abort(self) -> None:
        """Drop every connection: the nodes see a short body and store nothing."""
        for _node, conn, _slot in self.writers:
            conn.close()
        self.writers = []
