"""Storing an object's body on its nodes: the PUT path of the proxy.

Two ways, chosen by size:

* **direct** (body of at most ``put_direct_max`` bytes, 64 KiB by default): the body is
  read from the client first, then sent with the headers in one write to every node at
  once. A node that fails is replaced by a handoff, which gets the same bytes. Waiting for
  ``100 Continue`` would cost each small PUT a round trip for nothing.
* **streaming** (larger or chunked bodies): every node is asked with
  ``Expect: 100-continue`` first, so a dead or full node is replaced by a handoff before
  any byte is sent; then the body flows from the client to the nodes ``client_chunk_size``
  bytes at a time, in bounded memory. A node that fails mid-body is dropped; below a
  quorum of nodes the upload is abandoned (503) and the nodes discard their partial copy.

A body shorter than its ``Content-Length`` (the client went away) or too slow to arrive
ends the upload with 499 or 408, and the connections to the nodes are closed without
finishing the body, so they store nothing.
"""

from __future__ import annotations

from oiofs.common import constraints
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPClientDisconnect,
    HTTPInternalServerError,
    HTTPRequestEntityTooLarge,
    HTTPRequestTimeout,
    HTTPServiceUnavailable,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import NODE_ERRORS, Answer, StreamingWrite
from oiofs.proxy.quorum import best_status
from oiofs.proxy.response import Response


class ClientBody:
    """The client's request body, read in pieces; client faults become 499/408/400."""

    def __init__(self, environ: dict, length: int | None):
        self.input = environ["wsgi.input"]
        self.left = length

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b''`` at the end of the body."""
        if self.left is not None:
            if self.left <= 0:
                return b""
            size = min(size, self.left)
        try:
            data = self.input.read(size)
        except TimeoutError:
            raise HTTPRequestTimeout("Timed out reading the request body") from None
        except ValueError:  # eventlet's ChunkReadError: broken chunked framing
            raise HTTPBadRequest("Invalid chunked encoding") from None
        except OSError:
            raise HTTPClientDisconnect() from None
        if self.left is not None:
            if not data:
                raise HTTPClientDisconnect()
            self.left -= len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes (the whole of a small body)."""
        parts = []
        while size > 0:
            data = self.read(size)
            if not data:
                raise HTTPClientDisconnect()
            parts.append(data)
            size -= len(data)
        return b"".join(parts)


class BackendSource:
    """Another object's body (a copy source) as a PUT body; node faults become 503."""

    def __init__(self, resp, backend, node):
        self.resp = resp
        self.backend = backend
        self.node = node

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the source; ``b''`` at its end."""
        try:
            return self.resp.read(size)
        except NODE_ERRORS as err:
            self.backend.node_error(self.node, err)
            raise HTTPServiceUnavailable("Copy source failed") from None

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes."""
        parts = []
        while size > 0:
            data = self.read(size)
            if not data:
                raise HTTPServiceUnavailable("Copy source ended early")
            parts.append(data)
            size -= len(data)
        return b"".join(parts)

    def close(self) -> None:
        """Release the source connection."""
        self.resp.close()


def store_object(ctrl, ring, part: int, nodes: list[dict], suffix: str,
                 headers_list: list[dict], source, length: int | None) -> list[Answer]:
    """Send the body from ``source`` to the nodes; one :class:`Answer` per slot."""
    options = ctrl.options
    if length is None:
        # Chunked: a small body is sent directly once we know it is small.
        limit = options.put_direct_max
        parts, total = [], 0
        while total <= limit:
            data = source.read(limit + 1 - total)
            if not data:
                break
            parts.append(data)
            total += len(data)
        first = b"".join(parts)
        if total <= limit:
            return _direct(ctrl, ring, part, nodes, suffix, headers_list, first)
        return _stream(ctrl, ring, part, nodes, suffix, headers_list, source, None, first)
    if length <= options.put_direct_max:
        body = source.read_exact(length) if length else b""
        return _direct(ctrl, ring, part, nodes, suffix, headers_list, body)
    return _stream(ctrl, ring, part, nodes, suffix, headers_list, source, length, b"")


def _direct(ctrl, ring, part, nodes, suffix, headers_list, body: bytes) -> list[Answer]:
    length = str(len(body))
    for headers in headers_list:
        headers["Content-Length"] = length
    return ctrl.backend.write(ring, part, nodes, "PUT", suffix, headers_list, body or None)


def _stream(ctrl, ring, part, nodes, suffix, headers_list, source, length, first: bytes):
    chunked = length is None
    for headers in headers_list:
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(length)
    quorum = ctrl.app.quorum(len(nodes))
    writer = StreamingWrite(ctrl.backend, ring, part, nodes, suffix, headers_list, chunked)
    if writer.connect() < quorum:
        ready = len(writer.writers)
        writer.abort()
        return writer.answers + [Answer(503, {}, b"", None)] * ready
    chunk_size = ctrl.options.client_chunk_size
    max_size = constraints.LIMITS.max_file_size
    total = 0
    try:
        data = first or source.read(chunk_size)
        while data:
            total += len(data)
            if total > max_size:
                raise HTTPRequestEntityTooLarge("Your request is too large.")
            if writer.send(data) < quorum:
                raise HTTPServiceUnavailable("Too few nodes took the object")
            data = source.read(chunk_size)
    except BaseException:
        # Client fault, too few nodes, or the green thread is killed: close every node
        # connection mid-body so that no node keeps a partial object.
        writer.abort()
        raise
    return writer.finish()


def put_response(ctrl, answers: list[Answer], quorum: int, timestamp: Timestamp) -> Response:
    """The client's answer to a PUT from the nodes' answers."""
    status = best_status([a.status for a in answers], quorum)
    if status == 409:
        # A newer version is already stored: the write is accepted and simply loses.
        return Response.simple(202)
    if 200 <= status < 300:
        etags = {a.headers.get("etag", "").strip('"') for a in answers
                 if 200 <= a.status < 300}
        etags.discard("")
        if len(etags) > 1:
            ctrl.app.logger.error("nodes disagree on the ETag of a PUT: %s", etags)
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
