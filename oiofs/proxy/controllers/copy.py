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

from urllib.parse import quote, unquote

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
from oiofs.proxy.controllers.base import quoted_suffix
from oiofs.proxy.controllers.obj_put import (
    BackendSource,
    put_response,
    store_object,
)
from oiofs.proxy.response import Response

#: source headers carried over to the copy (besides user metadata)
COPIED_HEADERS = ("content-type", "content-encoding", "content-disposition",
                  "content-language", "cache-control", "expires", "x-robots-tag")
#: what makes the source a large-object manifest: kept whatever the metadata asked, so a
#: manifest copied as such (``multipart-manifest=get``) is still one
LARGE_OBJECT_HEADERS = ("x-object-manifest", "x-static-large-object")
LARGE_OBJECT_PREFIX = "x-object-sysmeta-slo-"


def _split_target(value: str | None, what: str) -> tuple[str, str]:
    """``(container, object)`` of a ``/container/object`` style header value."""
    if not value:
        raise HTTPPreconditionFailed(f"{what} header required")
    text = unquote(value, errors="strict") if "%" in value else value
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


def copy_from_header(ctrl, req) -> Response:
    """``PUT`` with ``X-Copy-From: <container>/<object>`` (optionally another account)."""
    if req.environ.get("CONTENT_LENGTH", "0") not in ("0", ""):
        raise HTTPBadRequest("Copy requests require a zero byte body")
    src_container, src_obj = _split_target(req.environ.get("HTTP_X_COPY_FROM"),
                                           "X-Copy-From")
    src_account = req.text_header("X-Copy-From-Account") or req.account
    return _copy(ctrl, req, (src_account, src_container, src_obj),
                 (req.account, req.container, req.obj))


def copy_verb(ctrl, req) -> Response:
    """``COPY`` to ``Destination: <container>/<object>`` (optionally another account)."""
    dst_container, dst_obj = _split_target(req.environ.get("HTTP_DESTINATION"),
                                           "Destination")
    dst_account = req.text_header("Destination-Account") or req.account
    return _copy(ctrl, req, (req.account, req.container, req.obj),
                 (dst_account, dst_container, dst_obj))


def _copy(ctrl, req, src: tuple[str, str, str], dst: tuple[str, str, str]) -> Response:
    app = ctrl.app
    check_name_lengths(*dst)
    src_info = ctrl._container(req, "read", src[0], src[1], target=src, method="GET")
    dst_info = ctrl._container(req, "write", dst[0], dst[1], target=dst, method="PUT")
    ring = app.object_ring(src_info.policy_index)
    part, nodes = ring.get_nodes(*src)
    headers = ctrl.backend_headers(
        req, **{"X-Backend-Storage-Policy-Index": str(src_info.policy_index)})
    byte_range = req.environ.get("HTTP_RANGE")
    if byte_range is not None:
        headers["Range"] = byte_range  # the copy is what a GET with this Range returns
    resp, node, status = ctrl.backend.read(
        ctrl.backend.iter_read_nodes(ring, part, nodes, ctrl.options.node_count(len(nodes))),
        "GET", part, quoted_suffix(*src), headers, app.quorum(len(nodes)))
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
        return Response.simple(resp.status)
    source = BackendSource(resp, ctrl.backend, node)
    try:
        timestamp = Timestamp.now()
        base = ctrl.backend_headers(
            req, **{"X-Backend-Storage-Policy-Index": str(dst_info.policy_index)})
        for name, value in resp.items:
            lname = name.lower()
            if lname in LARGE_OBJECT_HEADERS or lname.startswith(LARGE_OBJECT_PREFIX):
                base[lname.title()] = value
        if not req.true_header("X-Fresh-Metadata"):
            for name, value in resp.items:
                lname = name.lower()
                if lname in COPIED_HEADERS or lname.startswith("x-object-meta-"):
                    base[lname.title()] = value  # same spelling as request headers
        given_type = given_content_type(req.environ)
        overrides = ctrl.object_headers(req, dst[2], timestamp)
        if not given_type and "Content-Type" in base:
            overrides.pop("Content-Type", None)
        base.update(overrides)
        etag = resp.headers.get("etag")
        if etag and resp.status == 200:  # a range's bytes have another MD5
            base["ETag"] = etag.strip('"')
        ring_d, part_d, nodes_d, headers_list = ctrl._write_slots(req, dst_info, *dst, base)
        answers = store_object(ctrl, ring_d, part_d, nodes_d, quoted_suffix(*dst),
                               headers_list, source, resp.content_length)
    finally:
        source.close()
    out = put_response(ctrl, answers, app.quorum(len(nodes_d)), timestamp)
    if out.status == 201:
        out.headers.append(("X-Copied-From", quote(f"{src[1]}/{src[2]}")))
        if src[0] != dst[0]:
            out.headers.append(("X-Copied-From-Account", quote(src[0])))
        last_modified = resp.headers.get("last-modified")
        if last_modified:
            out.headers.append(("X-Copied-From-Last-Modified", last_modified))
    return out
