"""Reading an object's answer from its nodes: the readers of the proxy's GET/HEAD path.

Like the writers (:mod:`oiofs.proxy.object_writer`), a reader is chosen by the
container's policy type (``ObjectController.reader_for``) and has one interface,
:class:`ObjectRead`: one read of one object, whose :meth:`~ObjectRead.answer` gives the
next answer to try (a node's open response, or something that behaves like one) and
whose :meth:`~ObjectRead.resumer` may fetch the rest of a body that failed mid-way.

* :class:`ReplicatedRead`: primaries shuffled then handoffs; the first node's answer is
  checked against a ``HEAD`` of a quorum of replicas and the newest wins
  (:mod:`oiofs.proxy.checked_read`; ``X-Newest``: every primary); a body that fails is
  resumed from another node with ``Range`` and ``If-Match``.
* :class:`~oiofs.proxy.ec_reader.ECRead`: ``k`` fragment archives decoded
  (:mod:`oiofs.proxy.ec_reader`); it replaces failing nodes itself.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from oiofs.common.http.ranges import parse_content_range
from oiofs.proxy.backend import Backend
from oiofs.proxy.checked_read import KEYS as NEWEST_KEYS
from oiofs.proxy.checked_read import read_checked


class ObjectAnswer(Protocol):
    """What a read answers: a node's open response
    (:class:`~oiofs.common.connection_pool.HTTPResponse`) or one that behaves like it
    (:class:`~oiofs.proxy.ec_reader.ECResponse`)."""

    status: int
    headers: dict[str, str]
    items: list[tuple[str, str]]

    @property
    def content_length(self) -> int | None:
        """Bytes of body still to come, when known."""

    def read(self, size: int = ...) -> bytes:
        """Up to ``size`` bytes of body; ``b''`` at its end."""

    def read_all(self, limit: int = ...) -> bytes:
        """The whole (small) body."""

    def discard(self) -> None:
        """Done without the body."""

    def close(self) -> None:
        """Release the connection(s)."""


class ObjectRead(Protocol):
    """One read of one object (module docstring)."""

    def answer(self, method: str) -> tuple[ObjectAnswer | None, dict | None, int]:
        """``(response, node, status)``: an open answer (``status``, ``headers``,
        ``items``, ``content_length``, ``read``, ``read_all``, ``discard``, ``close``) and
        the node it came from (``None`` when several did), or ``(None, None, 404|503)``.
        Called again after a failure, it tries other nodes."""

    def resumer(self, resp, length: int | None):
        """A ``resume(sent) -> response | None`` for :class:`~oiofs.proxy.streaming.
        BackendBody`, or ``None``."""


class ReplicatedRead:
    """Reads a replicated object from one node at a time (module docstring)."""

    def __init__(self, backend: Backend, ring, part: int, nodes: list[dict], suffix: str,
                 headers: dict, quorum: int, max_nodes: int, newest: bool,
                 checked: bool = True):
        self.backend = backend
        #: how many replicas a read compares: a quorum (read-your-writes), or 1 with the
        #: proxy's ``read_checks = false`` (one replica, as Swift reads)
        self.wanted = quorum if checked else 1
        self.part = part
        self.replicas = len(nodes)
        self.suffix = suffix
        self.headers = headers
        self.quorum = quorum
        self.newest = newest
        self.node_iter = backend.iter_read_nodes(ring, part, nodes, max_nodes)
        #: nodes the check found holding the version served: resumed from first
        self.same_copy: list[dict] = []

    def answer(self, method: str):
        """The newest answer of a quorum of the nodes not tried yet (:class:`ObjectRead`,
        :mod:`oiofs.proxy.checked_read`)."""
        if self.newest:
            self.newest = False  # a retry takes the checked answer
            return self.backend.read_newest(self.node_iter, method, self.part, self.suffix,
                                            self.headers, self.quorum, self.replicas, "",
                                            NEWEST_KEYS)
        return read_checked(self.backend, self.node_iter, method, self.part, self.suffix,
                            self.headers, self.quorum, self.wanted, self.same_copy,
                            state_only=True)

    def resumer(self, resp, length: int | None):
        """Fetches the rest of a body from another node after a failure (a whole body,
        or one range: a multipart/byteranges body is not resumed)."""
        etag = resp.headers.get("etag")
        if not etag or length is None:
            return None
        start = 0
        if resp.status == 206:
            try:
                start = parse_content_range(resp.headers.get("content-range", ""))[0]
            except ValueError:
                return None  # several ranges (multipart): no one range to ask again
        elif resp.status != 200:
            return None
        method = getattr(resp, "method", "GET")

        def resume(sent: int):
            if sent >= length:
                return None
            retry = dict(self.headers)
            retry["Range"] = f"bytes={start + sent}-{start + length - 1}"
            retry["If-Match"] = etag  # the very same version, or nothing
            retry.pop("If-None-Match", None)
            nodes = itertools.chain(self.same_copy, self.node_iter)
            self.same_copy = []  # each node is tried once
            new, _node, _status = self.backend.read(nodes, method, self.part, self.suffix,
                                                    retry, 1)
            if new is not None and new.status == 206:
                return new
            if new is not None:
                new.close()
            return None

        return resume
