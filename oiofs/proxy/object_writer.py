"""Storing an object's body on its nodes: the writers of the proxy's PUT path.

The object controller (or a copy) says *where* an object goes with a :class:`WriteTarget`
and picks the writer of the container's policy type; the writer says *how*, through the
backend client (:class:`~oiofs.proxy.backend.Backend`). Every writer has the same
interface, :class:`ObjectWriter`. There is one today, :class:`ReplicatedWriter` (every
node stores the whole body); an erasure-coded writer, which would cut the body into
fragments, one per node, slots in beside it.

The replicated writer sends a body one of two ways, chosen by size:

* **direct** (body of at most ``put_direct_max`` bytes, 64 KiB by default): the body is
  read from the client first, then sent with the headers in one write to every node at
  once. A node that fails is replaced by a handoff, which gets the same bytes. Waiting for
  ``100 Continue`` would cost each small PUT a round trip for nothing.
* **streaming** (larger or chunked bodies): every node is asked with
  ``Expect: 100-continue`` first, so a dead or full node is replaced by a handoff before
  any byte is sent; then the body flows from the client to the nodes ``chunk_size``
  bytes at a time, in bounded memory. A node that fails mid-body is dropped; below a
  quorum of nodes the upload is abandoned (503) and the nodes discard their partial copy.

A body shorter than its ``Content-Length`` (the client went away) or too slow to arrive
ends the upload with 499 or 408 (:class:`~oiofs.common.http.body.RequestBody`), and the
connections to the nodes are closed without finishing the body, so they store nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from oiofs.common import constraints
from oiofs.common.exceptions import (
    HTTPInternalServerError,
    HTTPRequestEntityTooLarge,
    HTTPServiceUnavailable,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import Answer, Backend, StreamingWrite
from oiofs.proxy.quorum import best_status
from oiofs.proxy.response import Response


@dataclass
class WriteTarget:
    """Where an object write goes: its ring, partition and primary nodes, the backend
    path after ``/<device>/<partition>`` (``suffix``, quoted), the headers of each slot
    (one dict per primary; a handoff replacing a primary gets its slot's headers, so the
    same container updates), and how many slots must succeed (``quorum``)."""

    ring: object
    part: int
    nodes: list[dict]
    suffix: str
    headers: list[dict]
    quorum: int


class BodySource(Protocol):
    """What a writer reads a body from: the client's request body
    (:class:`~oiofs.common.http.body.RequestBody`) or another object (a copy's source).
    Both raise an ``HTTPError`` for a fault of their side."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b''`` at the end."""

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes."""


class ObjectWriter(Protocol):
    """The interface of a policy type's writer; what every writer promises.

    ``store(target, source, length)`` reads the body from ``source`` (``length`` bytes,
    or up to its end when ``length`` is ``None``) and stores it on the nodes of
    ``target``, each slot on its primary or, when that fails, a handoff:

    * it returns one :class:`~oiofs.proxy.backend.Answer` per slot of ``target``, in slot
      order, as the nodes answered (503 for a slot with no node left); the caller turns
      them into the client's answer (:func:`put_response`);
    * it holds a bounded part of the body in memory at any time, whatever its size;
    * when it raises (a fault of the source, 408/499/503; a chunked body past
      ``max_file_size``, 413; too few nodes left mid-body, 503), every node connection
      has been closed mid-body, so no node keeps a partial object;
    * the nodes check the body against any ``ETag`` in the slot headers (422).
    """

    def store(self, target: WriteTarget, source: BodySource,
              length: int | None) -> list[Answer]:
        """Store the body; one answer per slot (see the class docstring)."""


class ReplicatedWriter:
    """Writes the whole body to every slot (replication policies); module docstring."""

    def __init__(self, backend: Backend, put_direct_max: int, chunk_size: int):
        self.backend = backend
        self.put_direct_max = put_direct_max
        self.chunk_size = chunk_size

    def store(self, target: WriteTarget, source: BodySource,
              length: int | None) -> list[Answer]:
        """Send the body from ``source`` to the nodes (:class:`ObjectWriter`)."""
        limit = self.put_direct_max
        if length is None:
            # Chunked: a small body is sent directly once we know it is small.
            parts, total = [], 0
            while total <= limit:
                data = source.read(limit + 1 - total)
                if not data:
                    break
                parts.append(data)
                total += len(data)
            first = b"".join(parts)
            if total <= limit:
                return self._direct(target, first)
            return self._stream(target, source, None, first)
        if length <= limit:
            return self._direct(target, source.read_exact(length) if length else b"")
        return self._stream(target, source, length, b"")

    def _direct(self, target: WriteTarget, body: bytes) -> list[Answer]:
        length = str(len(body))
        headers = [dict(slot, **{"Content-Length": length}) for slot in target.headers]
        return self.backend.write(target.ring, target.part, target.nodes, "PUT",
                                  target.suffix, headers, body or None)

    def _stream(self, target: WriteTarget, source: BodySource, length: int | None,
                first: bytes) -> list[Answer]:
        chunked = length is None
        framing = {"Transfer-Encoding": "chunked"} if chunked else \
            {"Content-Length": str(length)}
        headers = [dict(slot, **framing) for slot in target.headers]
        writer = StreamingWrite(self.backend, target.ring, target.part, target.nodes,
                                target.suffix, headers, chunked)
        if writer.connect() < target.quorum:
            ready = len(writer.writers)
            writer.abort()
            return writer.answers + [Answer(503, {}, b"", None)] * ready
        max_size = constraints.LIMITS.max_file_size
        total = 0
        try:
            data = first or source.read(self.chunk_size)
            while data:
                total += len(data)
                if total > max_size:
                    raise HTTPRequestEntityTooLarge("Your request is too large.")
                if writer.send(data) < target.quorum:
                    raise HTTPServiceUnavailable("Too few nodes took the object")
                data = source.read(self.chunk_size)
        except BaseException:
            # Client fault, too few nodes, or the green thread is killed: close every node
            # connection mid-body so that no node keeps a partial object.
            writer.abort()
            raise
        return writer.finish()


def put_response(answers: list[Answer], quorum: int, timestamp: Timestamp,
                 logger) -> Response:
    """The client's answer to a PUT from the nodes' answers (any writer's)."""
    status = best_status([a.status for a in answers], quorum)
    if status == 409:
        # A newer version is already stored: the write is accepted and simply loses.
        return Response.simple(202)
    if 200 <= status < 300:
        etags = {a.headers.get("etag", "").strip('"') for a in answers
                 if 200 <= a.status < 300}
        etags.discard("")
        if len(etags) > 1:
            logger.error("nodes disagree on the ETag of a PUT: %s", etags)
            raise HTTPInternalServerError("Object servers returned mismatched ETags")
        headers = [("Last-Modified", timestamp.http_date)]
        if etags:
            headers.append(("Etag", etags.pop()))
        return Response.simple(201, headers=headers)
    for answer in answers:
        if answer.status == status:
            body = answer.body or b""
            return Response.simple(status, body[:1024])
    return Response.simple(status)
