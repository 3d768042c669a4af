"""dlo: Dynamic Large Objects, as OpenStack Swift serves them.

A DLO manifest is an object (usually empty) with ``X-Object-Manifest: <container>/<prefix>``.
A ``GET``/``HEAD`` of it answers the concatenation of the objects of ``<container>`` whose
names start with ``<prefix>``, in name order, listing the container page by page as the
body goes (the listing and every segment are read as the requesting user, so the segment
container's own ACLs apply):

* ``Content-Length`` is the sum of the segments' sizes and ``ETag`` the quoted MD5 of
  their ETags concatenated, both known when the listing fits in one page; a longer one is
  served chunked without them, as Swift does;
* one byte range is served as 206 across segments; conditional headers are evaluated
  against the assembled ETag;
* ``?multipart-manifest=get`` answers the manifest object itself;
* ``COPY`` (or ``PUT`` with ``X-Copy-From``) of a manifest copies the assembled object, or
  the manifest with ``?multipart-manifest=get``;
* a ``PUT``/``POST`` whose ``X-Object-Manifest`` is not ``<container>/<prefix>`` is 400.

A segment that changed or vanished while being served ends the response (logged). A GET
that has run for ``max_get_time`` seconds is ended the same way.

Configuration (``[filter:dlo]``, ``use = egg:oiofs#dlo``)::

    max_get_time = 86400
"""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

from oiofs.common import constraints
from oiofs.common.config import conf_int
from oiofs.common.logger import get_logger
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
from oiofs.proxy.middleware.segments import Segment, dlo_etag, pieces_for_range
from oiofs.proxy.middleware.subrequest import call, make_environ, text_answer
from oiofs.proxy.response import status_line

#: manifest headers that describe the manifest's own bytes, replaced by the assembled ones
REPLACED_HEADERS = frozenset(("content-length", "etag", "content-range", "accept-ranges"))
#: the largest listing page read (JSON), well above what a full page of names takes
MAX_LISTING_BYTES = 64 * 1024 * 1024


def manifest_problem(value: str) -> str | None:
    """Why an ``X-Object-Manifest`` value (WSGI string) is not usable, or ``None``."""
    try:
        text = unquote(value.encode("latin-1").decode("utf-8"), errors="strict")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return "X-Object-Manifest must be valid UTF-8"
    container, sep, _prefix = text.lstrip("/").partition("/")
    if not sep or not container or container in (".", "..") or "\x00" in text:
        return "X-Object-Manifest must be in the format container/prefix"
    return None


def split_manifest(value: str) -> tuple[str, str]:
    """``(container, prefix)`` (text) of a valid ``X-Object-Manifest`` value."""
    text = unquote(value.encode("latin-1").decode("utf-8"))
    container, _, prefix = text.lstrip("/").partition("/")
    return container, prefix


#: the header an answer must carry to be a DLO manifest's (lower case)
DLO_MARKS = frozenset(("x-object-manifest",))


def is_dlo(headers: dict) -> bool:
    """True when response headers (lower-case names) show a DLO manifest."""
    return "x-object-manifest" in headers


class DynamicLargeObject:
    """The dlo filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.logger = get_logger(conf, "dlo")
        self.max_get_time = conf_int(conf, "max_get_time", 86400, minimum=1)
        register_info("dlo", {"max_get_time": self.max_get_time})

    @property
    def page_size(self) -> int:
        """Entries in a full page of a container listing (a shorter page is the last)."""
        return constraints.LIMITS.container_listing_limit

    def __call__(self, environ, start_response):
        parts = object_parts(environ)
        if parts is None:
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        manifest_get = query_value(environ, "multipart-manifest") == "get"
        if method in ("PUT", "POST") and "HTTP_X_OBJECT_MANIFEST" in environ:
            problem = manifest_problem(environ["HTTP_X_OBJECT_MANIFEST"])
            if problem is not None:
                return _refuse(environ, start_response, 400, problem)
        if method in ("GET", "HEAD") and not manifest_get:
            return self.get_or_head(environ, start_response, parts)
        if is_copy(environ) and not manifest_get:
            return copy_assembled(self, environ, start_response, is_dlo)
        return self.app(environ, start_response)

    # --- GET/HEAD -----------------------------------------------------------------------

    def get_or_head(self, environ, start_response, parts):
        resp, body = pass_plain(self.app, environ, start_response, DLO_MARKS, is_dlo)
        if resp is None:  # not a manifest: its answer went on already
            return body
        resp.close()
        version, account = parts[0], parts[1]
        container, prefix = split_manifest(resp.headers["x-object-manifest"])
        listing = self._listing_page(environ, version, account, container, prefix, "")
        if isinstance(listing, int):
            if listing == 404:  # no segment container: an empty object, as Swift serves it
                listing = []
            else:
                return _refuse(environ, start_response, listing, "Segment listing failed")
        complete = len(listing) < self.page_size
        length = etag = None
        if complete:
            length = sum(s.size for s in listing)
            etag = dlo_etag(s.etag or "" for s in listing)
        base = [(k, v) for k, v in resp.header_list if k.lower() not in REPLACED_HEADERS]
        name = f"{account}/{parts[2]}/{parts[3]}"

        def body_for(start, stop):
            segments = self._segments(environ, version, account, container, prefix,
                                      listing, complete)
            return SegmentReader(self.app, environ, version, account,
                                 pieces_for_range(segments, start, stop), self.logger,
                                 name, self.max_get_time)

        status, headers, body = assembled_response(environ, base, length, etag, body_for)
        start_response(status, headers)
        return body

    def _listing_page(self, environ, version, account, container, prefix, marker):
        """One page of segments (a list), or the listing's failed status (an int)."""
        query = "format=json&prefix=" + quote(prefix)
        if marker:
            query += "&marker=" + quote(marker)
        path = f"/{version}/{account}/" + container.encode("utf-8").decode("latin-1")
        resp = call(self.app, make_environ(environ, "GET", path, query))
        if resp.status // 100 != 2:
            resp.close()
            return resp.status
        try:
            rows = json.loads(resp.read(MAX_LISTING_BYTES) or b"[]")
            return [Segment(f"/{container}/{row['name']}", row.get("hash"),
                            int(row["bytes"])) for row in rows]
        except (ValueError, KeyError, TypeError):
            return 502

    def _segments(self, environ, version, account, container, prefix, first_page,
                  complete):
        """Every segment, paging through the listing lazily after ``first_page``."""
        page = first_page
        while True:
            yield from page
            if complete or not page:
                return
            marker = page[-1].path.split("/", 2)[2]
            page = self._listing_page(environ, version, account, container, prefix, marker)
            if isinstance(page, int):
                raise SegmentError(f"listing {container} failed with {page}")
            complete = len(page) < self.page_size


def _refuse(environ, start_response, status: int, text: str):
    return text_answer(environ, start_response, status_line(status), text.encode("utf-8"))


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#dlo``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: DynamicLargeObject(app, conf)
