"""slo: Static Large Objects, as OpenStack Swift serves them.

An SLO manifest is an object whose body is an explicit list of segments (each an object
path, its ETag and size, optionally a byte range of it, possibly another SLO), checked
when it is uploaded (:mod:`~oiofs.proxy.middleware.slo_put`):

* ``PUT ?multipart-manifest=put`` with the JSON list stores the manifest (400 listing the
  problems if a segment is missing, unreadable, or not the size/ETag given);
  ``&heartbeat=on`` keeps a long check alive;
* ``GET``/``HEAD`` answer the concatenation: ``Content-Length`` the total size, ``ETag``
  the quoted MD5 of the segments' ETags, ``X-Static-Large-Object: True``; one byte range
  is served as 206 across segments, nested manifests are followed (10 levels at most),
  conditional headers are evaluated against the large object's ETag;
* ``?multipart-manifest=get`` answers the stored list (JSON), ``&format=raw`` the list in
  the upload form;
* ``DELETE ?multipart-manifest=delete`` deletes the segments (and those of nested
  manifests), then the manifest, and reports like Swift's bulk delete;
* ``COPY``/``X-Copy-From`` of a manifest copies the assembled object (the manifest with
  ``?multipart-manifest=get``);
* a plain ``PUT`` may not set ``X-Static-Large-Object`` (400).

Segments are read as the requesting user, through the rest of the pipeline, one after
another and chunk by chunk. A segment whose ETag or size no longer matches the manifest
ends the response (the connection drops) and is logged.

Configuration (``[filter:slo]``, ``use = egg:oiofs#slo``), with Swift's defaults::

    max_manifest_segments = 1000
    max_manifest_size = 8388608
    min_segment_size = 1
    yield_frequency = 10
    max_get_time = 86400
    concurrency = 2
"""

from __future__ import annotations

import json

from oiofs.common import runtime
from oiofs.common.config import conf_int
from oiofs.common.logger import get_logger
from oiofs.proxy.controllers.base import SHOW_SYSMETA_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.largeobj import (
    copy_assembled,
    is_copy,
    object_parts,
    pass_plain,
    query_value,
)
from oiofs.proxy.middleware.segment_reader import (
    SegmentError,
    SegmentReader,
    assembled_response,
)
from oiofs.proxy.middleware.segments import Segment, pieces_for_range, slo_etag
from oiofs.proxy.middleware.slo_manifest import (
    ManifestError,
    stored_to_raw,
    stored_to_segments,
)
from oiofs.proxy.middleware.slo_put import (
    SLO_ETAG,
    SLO_SIZE,
    ManifestPut,
    PutOutcome,
    heartbeat_body,
    parse_or_refuse,
    read_manifest_body,
)
from oiofs.proxy.middleware.subrequest import call, make_environ, object_path
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

MAX_RECURSION_DEPTH = 10
REPLACED_HEADERS = frozenset(("content-length", "etag", "content-range", "accept-ranges"))
SYSMETA_PREFIX = "x-object-sysmeta-"


#: the header an answer must carry to be an SLO manifest's (lower case)
SLO_MARKS = frozenset(("x-static-large-object",))


def is_slo(headers: dict) -> bool:
    """True when response headers (lower-case names) show an SLO manifest."""
    return headers.get("x-static-large-object", "").lower() in ("true", "1", "yes")


def _public(header_list) -> list[tuple[str, str]]:
    return [(k, v) for k, v in header_list if not k.lower().startswith(SYSMETA_PREFIX)]


class StaticLargeObject:
    """The slo filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.logger = get_logger(conf, "slo")
        self.max_manifest_segments = conf_int(conf, "max_manifest_segments", 1000, 1)
        self.max_manifest_size = conf_int(conf, "max_manifest_size", 8 * 1024 * 1024, 1)
        self.min_segment_size = conf_int(conf, "min_segment_size", 1, 1)
        self.yield_frequency = conf_int(conf, "yield_frequency", 10, 1)
        self.max_get_time = conf_int(conf, "max_get_time", 86400, 1)
        self.concurrency = conf_int(conf, "concurrency", 2, 1)
        # the stored list is larger than what the client sent (content types, dates)
        self.max_stored_size = self.max_manifest_size * 4
        register_info("slo", {"max_manifest_segments": self.max_manifest_segments,
                              "max_manifest_size": self.max_manifest_size,
                              "min_segment_size": self.min_segment_size,
                              "yield_frequency": self.yield_frequency,
                              "max_get_time": self.max_get_time})

    def __call__(self, environ, start_response):
        parts = object_parts(environ)
        if parts is None:
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        mm = query_value(environ, "multipart-manifest")
        if method == "PUT":
            if mm == "put":
                return self.handle_put(environ, start_response, parts)
            if "HTTP_X_STATIC_LARGE_OBJECT" in environ:
                return _answer(environ, start_response, PutOutcome(
                    400, body=b"X-Static-Large-Object is a reserved header. To create a "
                              b"static large object add query param multipart-manifest=put."))
        if method == "DELETE" and mm == "delete":
            return self.handle_delete(environ, start_response, parts)
        if method in ("GET", "HEAD"):
            if mm == "get":
                return self.manifest_get(environ, start_response)
            return self.get_or_head(environ, start_response, parts)
        if is_copy(environ) and mm != "get":
            return copy_assembled(self, environ, start_response, is_slo)
        return self.app(environ, start_response)

    # --- PUT --------------------------------------------------------------------------

    def handle_put(self, environ, start_response, parts):
        body = read_manifest_body(environ, self.max_manifest_size)
        if isinstance(body, PutOutcome):
            return _answer(environ, start_response, body)
        requested = parse_or_refuse(body, self.max_manifest_segments)
        if isinstance(requested, PutOutcome):
            return _answer(environ, start_response, requested)
        put = ManifestPut(self, environ, parts, requested)
        if query_value(environ, "heartbeat") == "on":
            accept = environ.get("HTTP_ACCEPT", "")
            ctype = "application/json" if "application/json" in accept else "text/plain"
            # eventlet holds back body pieces under 4 KiB: each space must go at once
            environ[runtime.MINIMUM_WRITE_CHUNK_KEY] = 0
            start_response("202 Accepted", [("Content-Type", ctype),
                                            ("X-Trans-Id", ensure_trans_id(environ))])
            return heartbeat_body(put, self.yield_frequency, accept)
        return _answer(environ, start_response, put.run())

    # --- GET/HEAD ---------------------------------------------------------------------

    def manifest_get(self, environ, start_response):
        """``multipart-manifest=get``: the stored list (or its ``format=raw`` form)."""
        env = dict(environ)
        env["QUERY_STRING"] = "multipart-manifest=get"
        env[SHOW_SYSMETA_KEY] = True
        resp = call(self.app, env)
        if not is_slo(resp.headers) or resp.status != 200:
            start_response(status_line(resp.status), _public(resp.header_list))
            return resp.body
        headers = [(k, v) for k, v in _public(resp.header_list)
                   if k.lower() not in ("content-type", "content-length")]
        headers.append(("Content-Type", "application/json; charset=utf-8"))
        if query_value(environ, "format") != "raw":
            headers.append(("Content-Length", resp.headers.get("content-length", "0")))
            start_response("200 OK", headers)
            return resp.body
        try:
            raw = stored_to_raw(json.loads(resp.read(self.max_stored_size)))
        except (ValueError, KeyError, TypeError):
            return _answer(environ, start_response,
                           PutOutcome(500, body=b"Stored manifest is malformed"))
        body = json.dumps(raw).encode("utf-8")
        headers = [(k, v) for k, v in headers if k.lower() != "etag"]
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def get_or_head(self, environ, start_response, parts):
        env = dict(environ)
        env[SHOW_SYSMETA_KEY] = True
        resp, whole = pass_plain(self.app, env, start_response, SLO_MARKS, is_slo,
                                 keep_sysmeta=False)
        if resp is None:  # not a manifest: its answer went on already
            return whole
        version, account = parts[0], parts[1]
        headers = resp.headers
        segments = None
        if environ["REQUEST_METHOD"] == "GET" or SLO_SIZE not in headers:
            if whole:
                stored = resp  # the manifest's body came whole: no second read
            else:
                resp.close()
                stored = call(self.app, make_environ(environ, "GET", environ["PATH_INFO"],
                                                     "multipart-manifest=get"))
            try:
                segments = stored_to_segments(json.loads(stored.read(self.max_stored_size)))
            except (ValueError, ManifestError) as err:
                self.logger.error("ERROR: stored manifest %s unreadable: %s",
                                  environ["PATH_INFO"], err)
                return _answer(environ, start_response,
                               PutOutcome(500, body=b"Stored manifest is malformed"))
        else:
            resp.close()
        if segments is not None:
            length = sum(s.size for s in segments)
            etag: str | None = headers.get(SLO_ETAG) or slo_etag(segments)
        else:
            length, etag = int(headers[SLO_SIZE]), headers.get(SLO_ETAG)
        base = [(k, v) for k, v in _public(resp.header_list)
                if k.lower() not in REPLACED_HEADERS]
        name = environ["PATH_INFO"]

        def body_for(start, stop):
            pieces = self._expand(environ, version, account, segments, start, stop, 1)
            return SegmentReader(self.app, environ, version, account, pieces, self.logger,
                                 name, self.max_get_time)

        status, out, body = assembled_response(environ, base, length, etag, body_for)
        start_response(status, out)
        return body

    def _sub_manifest(self, environ, version, account, segment: Segment) -> list[Segment]:
        resp = call(self.app, make_environ(environ, "GET",
                                           object_path(version, account, segment.path),
                                           "multipart-manifest=get"))
        if resp.status != 200 or not is_slo(resp.headers):
            resp.close()
            raise SegmentError(f"nested manifest {segment.path}: status {resp.status}")
        stored_etag = resp.headers.get(SLO_ETAG)
        if segment.etag and stored_etag and stored_etag != segment.etag:
            resp.close()
            raise SegmentError(f"nested manifest {segment.path}: Etag {stored_etag}, "
                               f"manifest says {segment.etag}")
        try:
            return stored_to_segments(json.loads(resp.read(self.max_stored_size)))
        except (ValueError, ManifestError) as err:
            raise SegmentError(f"nested manifest {segment.path}: {err}") from None

    def _expand(self, environ, version, account, segments, start, stop, depth):
        """The data pieces of bytes ``[start, stop)``, following nested manifests."""
        for piece in pieces_for_range(segments, start, stop):
            if not piece.segment.sub_slo:
                yield piece
                continue
            if depth >= MAX_RECURSION_DEPTH:
                raise SegmentError("Max recursion depth exceeded")
            inner = self._sub_manifest(environ, version, account, piece.segment)
            first, last = piece.object_range
            yield from self._expand(environ, version, account, inner, first, last,
                                    depth + 1)

    # --- DELETE -----------------------------------------------------------------------

    def handle_delete(self, environ, start_response, parts):
        """Delete the segments (nested manifests' too), then the manifest."""
        version, account = parts[0], parts[1]
        own = "/" + f"{parts[2]}/{parts[3]}".encode("latin-1").decode("utf-8", "replace")
        resp = call(self.app, make_environ(environ, "GET", environ["PATH_INFO"],
                                           "multipart-manifest=get"))
        if resp.status // 100 != 2:
            resp.close()
            return _answer(environ, start_response, PutOutcome(resp.status))
        if not is_slo(resp.headers):
            resp.close()
            return _answer(environ, start_response,
                           PutOutcome(400, body=b"Not an SLO manifest"))
        try:
            segments = stored_to_segments(json.loads(resp.read(self.max_stored_size)))
            paths = self._delete_order(environ, version, account, segments, 1)
        except (ValueError, ManifestError, SegmentError) as err:
            return _answer(environ, start_response,
                           PutOutcome(400, body=f"Invalid manifest: {err}".encode()))
        deleted, not_found = 0, 0
        errors: list[tuple[str, str]] = []
        for path in paths + [own]:
            if path == own and errors:
                break  # keep the manifest: the remaining segments can be retried
            sub = call(self.app, make_environ(environ, "DELETE",
                                              object_path(version, account, path)))
            sub.close()
            if sub.status == 404:
                not_found += 1
            elif sub.status // 100 == 2:
                deleted += 1
            else:
                errors.append((path, status_line(sub.status)))
        report = {"Number Deleted": deleted, "Number Not Found": not_found,
                  "Response Body": "", "Errors": [list(e) for e in errors],
                  "Response Status": "400 Bad Request" if errors else "200 OK"}
        accept = environ.get("HTTP_ACCEPT", "")
        if "application/json" in accept:
            body, ctype = json.dumps(report).encode("utf-8"), "application/json"
        else:
            lines = [f"{k}: {report[k]}" for k in ("Number Deleted", "Number Not Found",
                                                   "Response Body", "Response Status")]
            lines += ["Errors:"] + [f"{p}, {s}" for p, s in errors]
            body, ctype = ("\n".join(lines) + "\n").encode("utf-8"), "text/plain"
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                  ("X-Trans-Id", ensure_trans_id(environ))])
        return [body]

    def _delete_order(self, environ, version, account, segments, depth) -> list[str]:
        """Every path to delete, nested segments before their manifest."""
        paths: list[str] = []
        for segment in segments:
            if segment.sub_slo:
                if depth >= MAX_RECURSION_DEPTH:
                    raise SegmentError("Max recursion depth exceeded")
                inner = self._sub_manifest(environ, version, account,
                                           Segment(segment.path, None, segment.size))
                paths += self._delete_order(environ, version, account, inner, depth + 1)
            paths.append(segment.path)
        return paths


def _answer(environ, start_response, outcome: PutOutcome):
    headers = list(outcome.headers)
    names = {k.lower() for k, _ in headers}
    body = outcome.body
    if "content-type" not in names and body:
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    if "x-trans-id" not in names:
        headers.append(("X-Trans-Id", ensure_trans_id(environ)))
    start_response(status_line(outcome.status), headers)
    return [] if environ["REQUEST_METHOD"] == "HEAD" or not body else [body]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#slo``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: StaticLargeObject(app, conf)
