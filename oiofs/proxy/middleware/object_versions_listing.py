"""``GET <container>?versions``: every version of a versioned container's objects.

The listing merges two container listings read page by page as the client: the versions
container (each row one version, ``<name>\\x01<inverted timestamp>``) and the container
itself, whose rows that are not links to a version are ``null`` versions (written
without versioning; placed among the versions by their ``last_modified``). Rows come in
object name order, newest version first; the first row of each name is ``is_latest``.
``prefix``, ``delimiter`` (``subdir`` rows), ``marker`` with ``version_marker``, ``limit``
in the JSON, XML and plain text formats.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from datetime import UTC
from urllib.parse import parse_qs, quote, unquote

from oiofs.common.db.listing_format import iter_listing_body, iter_xml
from oiofs.common.exceptions import HTTPPreconditionFailed
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.listing import FORMATS, listing_format
from oiofs.proxy.middleware.object_versions import (
    NULL_VERSION,
    SEPARATOR,
    client_setting,
    invert,
    split_version_name,
    version_name,
)
from oiofs.proxy.middleware.subrequest import call, listing_pages, to_wsgi
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

PAGE = 1000
MAX_LIMIT = 10000
MAX_PAGE_BYTES = 16 * 1024 * 1024
#: sorts after every inverted timestamp (for a null version whose time is unknown)
_LAST = "~"
Row = tuple[str, str, dict]


def _pages(app, environ: dict, path: str, prefix: str, marker: str) -> Iterator[dict]:
    """The rows of a container listing from ``marker`` on, a page at a time."""
    return listing_pages(app, environ, path, f"prefix={quote(prefix)}", PAGE, marker,
                         MAX_PAGE_BYTES)


def version_rows(rows: Iterator[dict]) -> Iterator[Row]:
    """``(name, inverted timestamp, row)`` of the versions container's rows."""
    for row in rows:
        split = split_version_name(row["name"])
        if split is not None:
            yield split[0], invert(split[1]), {**row, "name": split[0],
                                               "version_id": split[1]}


def null_rows(rows: Iterator[dict], versions: str) -> Iterator[Row]:
    """``(name, inverted timestamp, row)`` of the container's objects that are not links
    to one of its versions."""
    mark = f"/{versions}/"
    for row in rows:
        if "subdir" in row or mark in unquote(row.get("symlink_path", "")):
            continue
        try:
            key = invert(Timestamp(_epoch(row.get("last_modified", ""))).normal)
        except Exception:
            key = _LAST
        yield row["name"], key, {**row, "version_id": NULL_VERSION}


def _epoch(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def merged(vrows: Iterator[Row], nrows: Iterator[Row], prefix: str, delimiter: str,
           after: tuple[str, str] | None, limit: int) -> list[dict]:
    """The listing: rows merged in (name, newest first) order, after ``after`` (a
    ``(name, inverted timestamp)``), ``is_latest`` set, ``subdir`` rows for
    ``delimiter``, at most ``limit`` entries.

    >>> v = iter([("a", "1", {"name": "a"}), ("a", "2", {"name": "a"})])
    >>> [r["is_latest"] for r in merged(v, iter([]), "", "", None, 5)]
    [True, False]
    """
    out: list[dict] = []
    last_name = None
    last_subdir = None
    for name, key, row in heapq.merge(vrows, nrows, key=lambda r: (r[0], r[1])):
        latest = name != last_name
        last_name = name
        if after is not None and (name, key) <= after:
            continue
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                subdir = name[:cut + len(delimiter)]
                if subdir != last_subdir:
                    last_subdir = subdir
                    out.append({"subdir": subdir})
                if len(out) >= limit:
                    break
                continue
        row.pop("symlink_path", None)
        out.append({**row, "is_latest": latest})
        if len(out) >= limit:
            break
    return out


#: child elements of each object of an XML listing of versions
XML_VERSION_FIELDS = ("name", "version_id", "is_latest", "hash", "bytes", "content_type",
                      "last_modified")


def list_versions(filt, environ, start_response, cparts, versions: str):
    """Answer ``GET <container>?versions`` for the filter ``filt``."""
    version, account, container = cparts
    query = environ.get("QUERY_STRING", "")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    fmt = listing_format(query, environ.get("HTTP_ACCEPT"))
    try:
        limit = int(params.get("limit", MAX_LIMIT))
    except ValueError:
        raise HTTPPreconditionFailed("Invalid limit") from None
    if limit < 0 or limit > MAX_LIMIT:
        raise HTTPPreconditionFailed("Invalid limit")
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    marker, vmarker = params.get("marker", ""), params.get("version_marker", "")
    if vmarker and not marker:
        raise HTTPPreconditionFailed("version_marker param requires marker")
    after = None
    vstart = nstart = ""
    if marker and vmarker and vmarker != NULL_VERSION:
        after = (marker, invert(vmarker))
        vstart = version_name(marker, vmarker)
        nstart = marker[:-1]  # the marker's own null version may come later
    elif marker:
        after = (marker, _LAST)  # past every version of the marker
        vstart = marker + chr(ord(SEPARATOR) + 1)
        nstart = marker
    text = _text(account)
    vpath = to_wsgi(f"/{version}/{text}/{versions}")
    npath = to_wsgi(f"/{version}/{text}/{_text(container)}")
    vrows = version_rows(_pages(filt.app, environ, vpath, prefix, vstart))
    nrows = null_rows(_pages(filt.app, environ, npath, prefix, nstart), versions)
    rows = merged(vrows, nrows, prefix, delimiter, after, limit)
    if fmt == "json":
        body = json.dumps(rows).encode("utf-8")
        ctype = "application/json; charset=utf-8"
    elif fmt == "xml":
        shown = [r if "subdir" in r else {**r, "is_latest": str(r["is_latest"]).lower()}
                 for r in rows]
        body = b"".join(iter_xml(shown, "container", _text(container), XML_VERSION_FIELDS))
        ctype = "application/xml; charset=utf-8"
    else:
        body = "".join(f"{r.get('subdir') or r['name']}\n" for r in rows).encode("utf-8")
        ctype = "text/plain; charset=utf-8"
    status = "200 OK" if rows or fmt != "plain" else "204 No Content"
    if status.startswith("204"):
        body = b""
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                            ("X-Trans-Id", ensure_trans_id(environ))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def shown_row(row: dict, versions: str) -> dict:
    """A container listing row as clients see it: a link to one of the container's
    versions shows the version's size and hash, without the link's fields.

    >>> shown_row({"name": "o", "bytes": 0, "hash": "e", "symlink_bytes": 3,
    ...            "symlink_etag": "h", "symlink_path": "/v1/a/v/o%01x"}, "v")
    {'name': 'o', 'bytes': 3, 'hash': 'h'}
    """
    if f"/{versions}/" not in unquote(row.get("symlink_path", "")):
        return row
    shown = {k: v for k, v in row.items() if not k.startswith("symlink_")}
    shown["bytes"] = row.get("symlink_bytes", row.get("bytes", 0))
    shown["hash"] = row.get("symlink_etag", row.get("hash", ""))
    return shown


def list_current(filt, environ, start_response, cparts, versions: str):
    """A plain listing of a versioned container (JSON or XML), its rows shown by
    :func:`shown_row`; a plain text listing (names only) passes on."""
    query = environ.get("QUERY_STRING", "")
    fmt = listing_format(query, environ.get("HTTP_ACCEPT"))
    env = dict(environ)
    if fmt != "plain":
        env["QUERY_STRING"] = "&".join(
            [p for p in query.split("&") if p and not p.startswith("format=")]
            + ["format=json"])
        env.pop("HTTP_ACCEPT", None)
    resp = call(filt.app, env)
    headers = client_setting(resp.header_list)
    if fmt == "plain" or resp.status != 200:
        start_response(status_line(resp.status), headers)
        return resp.body
    rows = [shown_row(r, versions) for r in json.loads(resp.read(MAX_PAGE_BYTES))]
    ctype = FORMATS[fmt] + "; charset=utf-8"
    body = b"".join(iter_listing_body(rows, FORMATS[fmt], "container", _text(cparts[2])))
    headers = [(n, v) for n, v in headers
               if n.lower() not in ("content-type", "content-length")]
    start_response("200 OK", [*headers, ("Content-Type", ctype),
                              ("Content-Length", str(len(body)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", "replace")
