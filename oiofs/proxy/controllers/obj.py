"""``/v1/<account>/<container>/<object>``: read, write, update, delete, copy objects.

Every request first gets the container's info (cached): its storage policy picks the
object ring, its ACLs go to the auth middleware, and the container replicas are told of
writes through the container-update headers set here.
"""

from __future__ import annotations

import copy
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from oiofs.common.backend_protocol import (
    BACKEND_PREFIX,
    CONTAINER_UPDATE,
    DELETE_AT_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.base_app import given_content_type
from oiofs.common.constraints import (
    check_content_length,
    check_delete_headers,
    check_if_none_match,
    check_metadata,
    check_name_lengths,
)
from oiofs.common.exceptions import (
    HTTPForbidden,
    HTTPNotFound,
    HTTPServiceUnavailable,
)
from oiofs.common.expiring import (
    DEFAULT_DIVISOR,
    EXPIRING_ACCOUNT,
    queue_container,
)
from oiofs.common.http.body import RequestBody
from oiofs.common.storage_policy import ERASURE_CODING, POLICIES, REPLICATION
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import NODE_ERRORS
from oiofs.proxy.controllers.base import (
    BACKEND_HEADERS_KEY,
    POLICY_INDEX_KEY,
    SHOW_SYSMETA_KEY,
    Controller,
    metadata_headers,
    quoted_suffix,
    write_timestamp,
)
from oiofs.proxy.controllers.copy import ObjectCopy
from oiofs.proxy.ec_reader import ECRead, ECReader
from oiofs.proxy.ec_writer import ECWriter
from oiofs.proxy.object_reader import ObjectRead, ReplicatedRead
from oiofs.proxy.object_writer import ObjectWriter, ReplicatedWriter, WriteTarget, put_response
from oiofs.proxy.quorum import best_status, quorum_size
from oiofs.proxy.response import Response, pass_headers
from oiofs.proxy.streaming import BackendBody

#: client headers passed to object servers on reads
READ_HEADERS = (("Range", "HTTP_RANGE"), ("If-Range", "HTTP_IF_RANGE"),
                ("If-Match", "HTTP_IF_MATCH"),
                ("If-None-Match", "HTTP_IF_NONE_MATCH"),
                ("If-Modified-Since", "HTTP_IF_MODIFIED_SINCE"),
                ("If-Unmodified-Since", "HTTP_IF_UNMODIFIED_SINCE"))
#: client headers stored with an object besides its user metadata
STORED_HEADERS = (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                  ("Content-Disposition", "HTTP_CONTENT_DISPOSITION"),
                  ("Content-Language", "HTTP_CONTENT_LANGUAGE"),
                  ("Cache-Control", "HTTP_CACHE_CONTROL"),
                  ("Expires", "HTTP_EXPIRES"),
                  ("X-Robots-Tag", "HTTP_X_ROBOTS_TAG"),
                  ("X-Object-Manifest", "HTTP_X_OBJECT_MANIFEST"))
SKIP_PREFIXES = (BACKEND_PREFIX, "x-object-sysmeta-")
BACKEND_PREFIXES = (BACKEND_PREFIX,)

mimetypes.init()

#: ``(ring, part, primaries) -> nodes``: which replicas a write's updates go to
PickNodes = Callable[[Any, int, list[dict]], list[dict]]


def delete_at_update_headers(delete_at: int | None, slots: int, container_ring=None,
                             divisor: int = DEFAULT_DIVISOR,
                             pick: PickNodes | None = None) -> list[dict]:
    """Per object replica: where its object server records the object in the expiry
    queue (``X-Delete-At-Container``, ``-Host``, ``-Device``, ``-Partition``; see
    :mod:`oiofs.common.expiring`). Empty dicts when there is no ``delete_at``.
    ``pick(ring, part, primaries)`` chooses the queue's nodes (default: the primaries).
    """
    if not delete_at or container_ring is None:
        return [{} for _ in range(slots)]
    container = queue_container(delete_at, divisor)
    part, nodes = container_ring.get_nodes(EXPIRING_ACCOUNT, container)
    if pick is not None:
        nodes = pick(container_ring, part, nodes)
    headers = deal_update_headers(DELETE_AT_UPDATE, part, nodes, slots,
                                  quorum_size(len(nodes)), quorum_size(slots))
    for slot in headers:
        if slot:
            slot["X-Delete-At-Container"] = container
    return headers


class ObjectController(Controller):
    """Object requests."""

    allowed_methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS")
    server_type = "object"

    # --- shared -------------------------------------------------------------------------

    def authorized_container(self, req, acl_kind: str, account=None, container=None,
                             target=None, method=None):
        """The container's info, after authorization against its ``acl_kind`` ACL."""
        account = account or req.account
        container = container or req.container
        if account[:1] == ".":  # a copy's other side may name a hidden account (server.py)
            raise HTTPForbidden("Hidden account")
        info = self.container_info(req, account, container)
        self.authorize(req, info.read_acl if acl_kind == "read" else info.write_acl,
                       target, method)
        if not info.exists:
            if info.status == 404:
                raise HTTPNotFound()
            raise HTTPServiceUnavailable()
        forced = req.environ.get(POLICY_INDEX_KEY)
        if forced is not None and int(forced) != info.policy_index:
            info = copy.copy(info)  # the cached one stays the container's
            info.policy_index = int(forced)
        return info

    def write_target(self, req, info, account: str, container: str, obj: str,
                     base: dict, body: bool = True) -> WriteTarget:
        """Where a write of ``/account/container/obj`` goes, with ``base`` headers plus,
        per slot, the container replicas (and expiry queue replicas) it must update.

        The write's quorum is the policy's for a body (PUT, copy: ``k + 1`` archives for
        erasure coding) and a majority for a bodiless write (``body=False``: POST,
        DELETE). Enough container updates are dealt that, even if only that quorum of
        object writes succeed, a quorum of container replicas hears of the object (as
        Swift: ``Qc + Ro - Qo``, at least one per container replica; 3 for an ``ec42``
        PUT, 4 for its DELETE, 3 for 3 replicas). A container replica the proxy avoids
        (error-limited, or drained by the conscience) is not named: the next handoff of
        the container ring is, as for the proxy's own writes.
        """
        ring = self.app.object_ring(info.policy_index)
        part, nodes = ring.get_nodes(account, container, obj)
        quorum = self.policy_of(info).quorum(len(nodes)) if body else \
            self.app.quorum(len(nodes))
        cring = self.app.container_ring
        cpart, cnodes = cring.get_nodes(account, container)
        cnodes = self.backend.update_nodes(cring, cpart, cnodes)
        updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, len(nodes),
                                      self.app.quorum(len(cnodes)), quorum)
        delete_at = base.get("X-Delete-At")
        if delete_at:
            for update, queue in zip(updates, self._queue_headers(delete_at, len(nodes)),
                                     strict=True):
                update.update(queue)
        return WriteTarget(ring, part, nodes, quoted_suffix(account, container, obj),
                           [dict(base, **upd) for upd in updates], quorum)

    @staticmethod
    def policy_of(info):
        """The storage policy of a container (503 if this proxy does not know it)."""
        policy = POLICIES.get_by_index(info.policy_index)
        if policy is None:
            raise HTTPServiceUnavailable(f"Unknown storage policy {info.policy_index}")
        return policy

    def writer_for(self, info) -> ObjectWriter:
        """The writer of the container's storage policy type (:data:`WRITERS`)."""
        policy = self.policy_of(info)
        return WRITERS[policy.policy_type](self, policy)

    def read_for(self, info, account: str, container: str, obj: str, headers: dict,
                 newest: bool = False) -> ObjectRead:
        """One read of ``/account/container/obj`` by the reader of the container's
        policy type (:data:`READERS`), with the backend ``headers``."""
        policy = self.policy_of(info)
        ring = self.app.object_ring(policy.idx)
        part, nodes = ring.get_nodes(account, container, obj)
        return READERS[policy.policy_type](
            self, policy, ring, part, nodes, quoted_suffix(account, container, obj),
            headers, newest)

    def _write_all(self, target: WriteTarget, method: str) -> Response:
        """A bodiless write (POST, DELETE) to every slot; the client's answer."""
        answers = self.backend.write(target.ring, target.part, target.nodes, method,
                                     target.suffix, target.headers)
        # a majority, whatever the policy (write_target(body=False)): each node's file
        # is a whole tombstone or .meta
        return self._answer(best_status([a.status for a in answers], target.quorum))

    def _queue_headers(self, delete_at: str, slots: int) -> list[dict]:
        """Expiry queue headers for a write setting ``X-Delete-At: delete_at``."""
        return delete_at_update_headers(int(delete_at), slots, self.app.container_ring,
                                        self.options.expiring_objects_container_divisor,
                                        self.backend.update_nodes)

    # --- reads --------------------------------------------------------------------------

    def GET(self, req):
        """The object (GET) or its metadata (HEAD); ranges and conditions pass through."""
        info = self.authorized_container(req, "read")
        environ = req.environ
        headers = self.backend_headers(
            req, **{POLICY_INDEX_HEADER: str(info.policy_index)})
        for name, key in READ_HEADERS:
            value = environ.get(key)
            if value is not None:
                headers[name] = value
        read = self.read_for(info, req.account, req.container, req.obj, headers,
                             req.true_header("X-Newest"))
        chunk_size = self.options.object_chunk_size
        while True:
            resp, node, status = read.answer(req.method)
            if resp is None:
                if status == 404:
                    raise HTTPNotFound()
                raise HTTPServiceUnavailable()
            # Swift v1 clients get the object's ETag bare, as on PUT (backends quote it)
            skip = BACKEND_PREFIXES if environ.get(SHOW_SYSMETA_KEY) else SKIP_PREFIXES
            if environ.get(POLICY_INDEX_KEY) is not None:
                skip = ()
            out = [(k, v.strip('"')) if k.lower() == "etag" else (k, v)
                   for k, v in pass_headers(resp.items, skip)]
            if req.method == "HEAD":
                resp.discard()
                return Response(resp.status, out, [])
            length = resp.content_length
            if length is not None and length <= chunk_size:
                try:
                    return Response(resp.status, out, [resp.read_all(chunk_size)])
                except NODE_ERRORS as err:
                    # Nothing was sent to the client yet: ask the next node.
                    if node is not None:
                        self.backend.node_error(node, err)
                    continue
            return Response(resp.status, out, BackendBody(
                resp, chunk_size, read.resumer(resp, length), self.app.logger))

    HEAD = GET

    # --- writes -------------------------------------------------------------------------

    def object_headers(self, req, obj: str, timestamp: Timestamp) -> dict:
        """Content type, stored headers, metadata and expiry of a PUT, checked."""
        environ = req.environ
        headers = metadata_headers(req, "object")
        check_metadata(headers, "object")
        content_type = given_content_type(environ)
        if not content_type or req.true_header("X-Detect-Content-Type"):
            content_type = mimetypes.guess_type(obj)[0] or "application/octet-stream"
        headers["Content-Type"] = content_type
        for name, key in STORED_HEADERS:
            value = environ.get(key)
            if value is not None:
                headers[name] = value
        delete_at = check_delete_headers(req, time.time())
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        headers["X-Timestamp"] = timestamp.internal
        return headers

    def PUT(self, req):
        """Store an object (201), or copy one with ``X-Copy-From``."""
        if req.environ.get("HTTP_X_COPY_FROM") is not None:
            return ObjectCopy.from_header(self, req).run()
        info = self.authorized_container(req, "write")
        check_name_lengths(req.account, req.container, req.obj)
        length = check_content_length(req)
        check_if_none_match(req.environ.get("HTTP_IF_NONE_MATCH"))
        timestamp = write_timestamp(req)
        base = self.backend_headers(
            req, **{POLICY_INDEX_HEADER: str(info.policy_index)})
        base.update(self.object_headers(req, req.obj, timestamp))
        base.update(req.environ.get(BACKEND_HEADERS_KEY) or {})
        etag = req.environ.get("HTTP_ETAG")
        if etag:
            base["ETag"] = etag.strip('"')
        if req.environ.get("HTTP_IF_NONE_MATCH") is not None:
            base["If-None-Match"] = "*"
        target = self.write_target(req, info, req.account, req.container, req.obj, base)
        answers = self.writer_for(info).store(target, RequestBody.of(req.environ, length),
                                              length)
        return put_response(answers, target.quorum, timestamp, self.app.logger)

    def POST(self, req):
        """Replace the object's user metadata, stored headers and expiry (202); a
        ``Content-Type`` changes the object's content type (and its container row)."""
        info = self.authorized_container(req, "write")
        environ = req.environ
        headers = metadata_headers(req, "object")
        check_metadata(headers, "object")
        for name, key in STORED_HEADERS:
            value = environ.get(key)
            if value is not None:
                headers[name] = value
        content_type = given_content_type(environ)
        if content_type is not None:
            headers["Content-Type"] = content_type
        delete_at = check_delete_headers(req, time.time())
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        elif environ.get("HTTP_X_REMOVE_DELETE_AT") is not None:
            headers["X-Delete-At"] = ""
        headers["X-Timestamp"] = Timestamp.now().internal
        headers[POLICY_INDEX_HEADER] = str(info.policy_index)
        base = self.backend_headers(req, **headers)
        return self._write_all(
            self.write_target(req, info, req.account, req.container, req.obj, base,
                              body=False), "POST")

    def DELETE(self, req):
        """Delete the object (204; 404 if there was none)."""
        info = self.authorized_container(req, "write")
        base = self.backend_headers(
            req, **{POLICY_INDEX_HEADER: str(info.policy_index),
                    "X-Timestamp": write_timestamp(req).internal})
        if_delete_at = req.environ.get("HTTP_X_IF_DELETE_AT")
        if if_delete_at is not None:
            base["X-If-Delete-At"] = if_delete_at
        return self._write_all(
            self.write_target(req, info, req.account, req.container, req.obj, base,
                              body=False), "DELETE")

    def COPY(self, req):
        """Copy this object to ``Destination`` (``container/object``)."""
        return ObjectCopy.from_verb(self, req).run()

    @staticmethod
    def _answer(status: int) -> Response:
        if status == 404:
            raise HTTPNotFound()
        if status >= 500:
            raise HTTPServiceUnavailable()
        return Response.simple(status)


def _replicated_writer(ctrl: ObjectController, policy) -> ObjectWriter:
    return ReplicatedWriter(ctrl.backend, ctrl.options.put_direct_max,
                            ctrl.options.client_chunk_size)


def _ec_writer(ctrl: ObjectController, policy) -> ObjectWriter:
    return ECWriter(ctrl.backend, policy, ctrl.options.client_chunk_size)


def _replicated_read(ctrl: ObjectController, policy, ring, part, nodes, suffix, headers,
                     newest) -> ObjectRead:
    return ReplicatedRead(ctrl.backend, ring, part, nodes, suffix, headers,
                          ctrl.app.quorum(len(nodes)), ctrl.options.node_count(len(nodes)),
                          newest, checked=ctrl.options.read_checks)


def _ec_read(ctrl: ObjectController, policy, ring, part, nodes, suffix, headers,
             newest) -> ObjectRead:
    # X-Newest: every archive of the chosen write has the same timestamp already
    return ECRead(ECReader(ctrl.backend, policy, ctrl.app.logger), ring, part, nodes,
                  suffix, headers, ctrl.options.node_count(len(nodes)))


#: the writer and the reader of each storage policy type
WRITERS = {REPLICATION: _replicated_writer, ERASURE_CODING: _ec_writer}
READERS = {REPLICATION: _replicated_read, ERASURE_CODING: _ec_read}
