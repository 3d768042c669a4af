"""Server-side copy: ``COPY`` with ``Destination``, or ``PUT`` with ``X-Copy-From``.

The source is read from its nodes and streamed into a PUT of the destination, so a copy
of any size takes bounded memory and no client bandwidth. The destination gets the
source's content type and metadata, overridden by metadata given with the request
(``X-Fresh-Metadata: true`` starts from nothing instead). The source's ETag goes with the
PUT, so the object servers check that the copy is intact.

With a ``Range`` header the source is read with it and the copy is what that GET answers,
as Swift does: the bytes of one range (content type and metadata of the source), or the
``multipart/byteranges`` document of several (stored with that content type); a range
the source cannot satisfy answers 416 and copies nothing.

The user needs read access to the source and write access to the destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.base_app import given_content_type
from oiofs.common.constraints import check_name_lengths, check_utf8
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPNotFound,
    HTTPPreconditionFailed,
    HTTPRequestedRangeNotSatisfiable,
    HTTPServiceUnavailable,
)
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import NODE_ERRORS, Backend
from oiofs.proxy.object_writer import put_response
from oiofs.proxy.response import Response

if TYPE_CHECKING:
    from oiofs.proxy.controllers.obj import ObjectController
    from oiofs.proxy.object_reader import ObjectAnswer

#: source headers carried over to the copy (besides user metadata)
COPIED_HEADERS = ("content-type", "content-encoding", "content-disposition",
                  "content-language", "cache-control", "expires", "x-robots-tag")
#: what makes the source a large-object manifest: kept whatever the metadata asked, so a
#: manifest copied as such (``multipart-manifest=get``) is still one
LARGE_OBJECT_HEADERS = ("x-object-manifest", "x-static-large-object")
LARGE_OBJECT_PREFIX = "x-object-sysmeta-slo-"
#: system metadata a copy keeps: the large-object marks, and a symlink's target (with
#: the listing override recording it), so a symlink copied as such (``symlink=get``)
#: is still one
KEPT_SYSMETA_PREFIXES = (LARGE_OBJECT_PREFIX, "x-object-sysmeta-symlink-",
                         "x-object-sysmeta-container-update-override-")


def split_target(value: str | None, what: str) -> tuple[str, str]:
    """``(container, object)`` of a ``/container/object`` style header value."""
    if not value:
        raise HTTPPreconditionFailed(f"{what} header required")
    # percent-decoded to a WSGI string (UTF-8 bytes as latin-1), as an unquoted value is
    text = unquote(value, encoding="latin-1") if "%" in value else value
    if not check_utf8(text):
        raise HTTPPreconditionFailed(f"Invalid UTF8 in {what} header")
    try:
        text = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    container, _, obj = text.lstrip("/").partition("/")
    if not container or not obj or container in (".", "..") or obj in (".", ".."):
        raise HTTPPreconditionFailed(f"{what} header must be of the form "
                                     f"<container name>/<object name>")
    return container, obj


class BackendSource:
    """Another object's body (a copy source) as a PUT body; node faults become 503."""

    def __init__(self, resp: ObjectAnswer, backend: Backend, node: dict | None):
        self.resp = resp
        self.backend = backend
        self.node = node

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the source; ``b''`` at its end."""
        try:
            return self.resp.read(size)
        except NODE_ERRORS as err:
            if self.node is not None:  # None: several nodes (erasure coding)
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


class ObjectCopy:
    """One server-side copy of ``src`` to ``dst`` (``(account, container, object)``).

    Uses the object controller's public methods only: authorization and container info
    (:meth:`authorized_container`), the headers of a write (:meth:`backend_headers`,
    :meth:`object_headers`), where it goes (:meth:`write_target`) and the writer of the
    destination's policy (:meth:`writer_for`).

    >>> ObjectCopy.from_header(ctrl, req).run()        # doctest: +SKIP
    """

    def __init__(self, ctrl: ObjectController, req, src: tuple[str, str, str],
                 dst: tuple[str, str, str]):
        self.ctrl = ctrl
        self.req = req
        self.src = src
        self.dst = dst

    @classmethod
    def from_header(cls, ctrl: ObjectController, req) -> ObjectCopy:
        """``PUT`` with ``X-Copy-From: <container>/<object>`` (optionally another account)."""
        if req.environ.get("CONTENT_LENGTH", "0") not in ("0", ""):
            raise HTTPBadRequest("Copy requests require a zero byte body")
        src_container, src_obj = split_target(req.environ.get("HTTP_X_COPY_FROM"),
                                               "X-Copy-From")
        src_account = req.text_header("X-Copy-From-Account") or req.account
        return cls(ctrl, req, (src_account, src_container, src_obj),
                   (req.account, req.container, req.obj))

    @classmethod
    def from_verb(cls, ctrl: ObjectController, req) -> ObjectCopy:
        """``COPY`` to ``Destination: <container>/<object>`` (optionally another account)."""
        dst_container, dst_obj = split_target(req.environ.get("HTTP_DESTINATION"),
                                               "Destination")
        dst_account = req.text_header("Destination-Account") or req.account
        return cls(ctrl, req, (req.account, req.container, req.obj),
                   (dst_account, dst_container, dst_obj))

    def run(self) -> Response:
        """Authorize both sides, read the source, store the copy; the client's answer."""
        ctrl, req, src, dst = self.ctrl, self.req, self.src, self.dst
        check_name_lengths(*dst)
        src_info = ctrl.authorized_container(req, "read", src[0], src[1], target=src,
                                             method="GET")
        dst_info = ctrl.authorized_container(req, "write", dst[0], dst[1], target=dst,
                                             method="PUT")
        opened = self._open_source(src_info)
        if isinstance(opened, Response):
            return opened
        resp, node = opened
        source = BackendSource(resp, ctrl.backend, node)
        try:
            timestamp = Timestamp.now()
            base = self._copy_headers(resp, dst_info.policy_index, timestamp)
            target = ctrl.write_target(req, dst_info, *dst, base)
            answers = ctrl.writer_for(dst_info).store(target, source, resp.content_length)
        finally:
            source.close()
        out = put_response(answers, target.quorum, timestamp, ctrl.app.logger)
        if out.status == 201:
            out.headers.append(("X-Copied-From", quote(f"{src[1]}/{src[2]}")))
            if src[0] != dst[0]:
                out.headers.append(("X-Copied-From-Account", quote(src[0])))
            last_modified = resp.headers.get("last-modified")
            if last_modified:
                out.headers.append(("X-Copied-From-Last-Modified", last_modified))
        return out

    def _open_source(self, src_info) -> tuple[ObjectAnswer, dict | None] | Response:
        """The source's GET answer (200, or 206 for a ``Range``), open, and its node; or
        the client's answer when the source answered something else."""
        ctrl, req, src = self.ctrl, self.req, self.src
        headers = ctrl.backend_headers(req, **{POLICY_INDEX_HEADER: str(src_info.policy_index)})
        byte_range = req.environ.get("HTTP_RANGE")
        if byte_range is not None:
            headers["Range"] = byte_range  # the copy is what a GET with this Range returns
        # the source's policy type reads it (an erasure-coded source is decoded)
        resp, node, status = ctrl.read_for(src_info, *src, headers).answer("GET")
        if resp is None:
            if status == 404:
                raise HTTPNotFound()
            raise HTTPServiceUnavailable()
        if resp.status not in (200, 206):
            resp.discard()
            if resp.status == 404:
                raise HTTPNotFound()
            if resp.status == 416:
                raise HTTPRequestedRangeNotSatisfiable(headers={
                    name: resp.headers[name.lower()] for name in ("Content-Range", "ETag")
                    if name.lower() in resp.headers})
            return Response.simple(resp.status)  # e.g. a precondition the source fails
        return resp, node

    def _copy_headers(self, resp: ObjectAnswer, policy_index: int,
                      timestamp: Timestamp) -> dict:
        """The destination's headers: the source's, overridden by the request's."""
        ctrl, req = self.ctrl, self.req
        base = ctrl.backend_headers(req, **{POLICY_INDEX_HEADER: str(policy_index)})
        for name, value in resp.items:
            lname = name.lower()
            if lname in LARGE_OBJECT_HEADERS or lname.startswith(KEPT_SYSMETA_PREFIXES):
                base[lname.title()] = value
        if not req.true_header("X-Fresh-Metadata"):
            for name, value in resp.items:
                lname = name.lower()
                if lname in COPIED_HEADERS or lname.startswith("x-object-meta-"):
                    base[lname.title()] = value  # same spelling as request headers
        given_type = given_content_type(req.environ)
        overrides = ctrl.object_headers(req, self.dst[2], timestamp)
        if not given_type and "Content-Type" in base:
            overrides.pop("Content-Type", None)
        base.update(overrides)
        etag = resp.headers.get("etag")
        if etag and resp.status == 200:  # a range's bytes have another MD5
            base["ETag"] = etag.strip('"')
        return base
