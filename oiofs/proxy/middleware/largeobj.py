"""What the DLO and SLO filters share: finding out whether a request aims at a manifest
of theirs, and server-side copies of an assembled large object.

A large-object filter lets every request through untouched unless it aims at an object
(``/v1/<a>/<c>/<o>``). A ``GET``/``HEAD`` is passed on as the client sent it: a plain
object's answer goes straight back (no extra request); only an answer that shows a
manifest is replaced by the assembled object. When the answer cannot show it (a 304, 412
or 416 that the object server computed on the manifest's own bytes), one ``HEAD`` of the
manifest itself tells.

``COPY`` (and ``PUT`` with ``X-Copy-From``) of a manifest copies the assembled object, as
with Swift (whose copy filter sits before its large-object filters): the source is read
through the filter, so through its segments, and streamed into a ``PUT`` of the
destination. With ``multipart-manifest=get`` the manifest itself is copied instead (by the
proxy, which carries its large-object marks along).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, quote, unquote

from oiofs.proxy.middleware.subrequest import Prepend, SubResponse, call, make_environ
from oiofs.proxy.response import status_line

#: answers the object server computes from the manifest's own ETag/bytes
AMBIGUOUS_STATUSES = frozenset((304, 412, 416))
#: client headers never carried from a COPY into the PUT of the assembled object
_NOT_CARRIED = frozenset(("HTTP_DESTINATION", "HTTP_DESTINATION_ACCOUNT", "HTTP_X_COPY_FROM",
                          "HTTP_X_COPY_FROM_ACCOUNT", "HTTP_ETAG", "HTTP_X_FRESH_METADATA",
                          "HTTP_RANGE", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH",
                          "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE",
                          "HTTP_X_OBJECT_MANIFEST", "HTTP_TRANSFER_ENCODING",
                          "HTTP_EXPECT", "HTTP_X_STATIC_LARGE_OBJECT"))
#: source headers a copy keeps (besides X-Object-Meta-*), as the proxy's own copy does
COPIED_HEADERS = ("content-type", "content-encoding", "content-disposition",
                  "content-language", "cache-control", "expires", "x-robots-tag")


def object_parts(environ: dict) -> tuple[str, str, str, str] | None:
    """``(version, account, container, object)`` (WSGI strings) of an object request."""
    parts = environ.get("PATH_INFO", "").split("/", 4)
    if len(parts) < 5 or parts[0] or parts[1] not in ("v1", "v1.0") or \
            not all(parts[2:]):
        return None
    return parts[1], parts[2], parts[3], parts[4]


def query_value(environ: dict, name: str) -> str | None:
    """The first value of query parameter ``name``, or ``None``."""
    if name not in environ.get("QUERY_STRING", ""):
        return None  # the usual case, without parsing the query
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
    return values[0] if values else None


def query_without(environ: dict, *names: str) -> str:
    """The query string without the parameters ``names``."""
    kept = [p for p in environ.get("QUERY_STRING", "").split("&")
            if p and p.split("=", 1)[0] not in names]
    return "&".join(kept)


def first_pass(app, environ: dict, is_manifest: Callable[[dict], bool]
               ) -> tuple[SubResponse, bool, bool]:
    """``(answer, manifest, whole)`` for the client's own GET/HEAD.

    ``answer`` is the answer to the request itself, or to a ``HEAD`` of the manifest when
    the first answer could not tell; ``manifest`` says whether it is a manifest of the
    caller's kind; ``whole`` that ``answer`` is a 200 GET carrying the manifest's body.
    """
    return _classify(app, environ, call(app, environ), is_manifest)


def _classify(app, environ: dict, resp: SubResponse, is_manifest: Callable[[dict], bool]
              ) -> tuple[SubResponse, bool, bool]:
    if is_manifest(resp.headers):
        whole = environ["REQUEST_METHOD"] == "GET" and resp.status == 200
        return resp, True, whole
    if resp.status in AMBIGUOUS_STATUSES:
        head = call(app, make_environ(environ, "HEAD", environ["PATH_INFO"],
                                      "multipart-manifest=get"))
        head.close()
        if head.status // 100 == 2 and is_manifest(head.headers):
            resp.close()
            return head, True, False
    return resp, False, False


#: answers held back for a second look: a 304 carries all the object's metadata (the
#: object server sends it), so its header names tell; a 412 or 416 carries only a few
_AMBIGUOUS_LINES = frozenset(("412", "416"))
_SYSMETA = "x-object-sysmeta-"


def _ignore_write(data: bytes) -> None:
    """The ``write`` of a start_response whose answer a filter holds back."""


def forward_unless(app, environ: dict, start_response, names: frozenset[str],
                   keep_sysmeta: bool = True) -> tuple[SubResponse | None, object]:
    """Run ``environ`` through ``app``; ``(None, body)`` when its answer went straight on
    to ``start_response``, ``(answer, None)`` when it was held back for the caller.

    An answer is held when one of its header names is in ``names`` (lower case) or its
    status is one the object server computed on a manifest's own bytes without showing
    its metadata (412, 416);
    any other goes on as it came, without copying its headers (``X-Object-Sysmeta-*``
    removed unless ``keep_sysmeta``). This is the cheap path of every plain-object read
    through the large-object and symlink filters: one look at each header name.
    """
    lengths = {len(name) for name in names}
    state: list = []

    def held_start_response(status, headers, exc_info=None):
        sysmeta = False
        for name, _value in headers:
            size = len(name)
            if size in lengths and name.lower() in names:
                state[:] = [status, headers]
                return _ignore_write
            if size > 17 and name[2] in "oO" and name[:17].lower() == _SYSMETA:
                sysmeta = True
        if status[:3] in _AMBIGUOUS_LINES:
            state[:] = [status, headers]
            return _ignore_write
        state[:] = [None]
        if sysmeta and not keep_sysmeta:
            headers = [(k, v) for k, v in headers if not k.lower().startswith(_SYSMETA)]
        return start_response(status, headers, exc_info)

    body = app(environ, held_start_response)
    if not state:  # a generator app starts its answer when first iterated
        rest = iter(body)
        body = Prepend(next(rest, b""), rest)
    if state[0] is None:
        return None, body
    return SubResponse(int(state[0][:3]), list(state[1]), body), None


def pass_plain(app, environ: dict, start_response, names: frozenset[str],
               is_manifest: Callable[[dict], bool], keep_sysmeta: bool = True):
    """The client's GET/HEAD: ``(None, body)`` when it was no manifest of the caller's
    kind (its answer already passed on), or ``(answer, whole)`` as :func:`first_pass`
    gives them for a manifest, nothing sent yet."""
    held, body = forward_unless(app, environ, start_response, names, keep_sysmeta)
    if held is None:
        return None, body
    resp, manifest, whole = _classify(app, environ, held, is_manifest)
    if manifest:
        return resp, whole
    headers = resp.header_list
    if not keep_sysmeta:
        headers = [(k, v) for k, v in headers if not k.lower().startswith(_SYSMETA)]
    start_response(status_line(resp.status), headers)
    return None, resp.body


class IterReader:
    """A file-like view (``read(size)``) of an iterable of bytes; holds one chunk at most.

    An error of the source (a segment gone) becomes an ``OSError``, which the proxy's PUT
    takes as a client that went away: the destination's nodes keep nothing.
    """

    def __init__(self, iterable):
        self.iterable = iterable
        self.iterator = iter(iterable)
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while not self.buffer:
            try:
                self.buffer = next(self.iterator)
            except StopIteration:
                return b""
            except Exception as err:  # any source failure ends the body
                raise OSError(f"source of the copy failed: {err}") from err
        if size is None or size < 0 or size >= len(self.buffer):
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def close(self) -> None:
        close = getattr(self.iterable, "close", None)
        if close is not None:
            close()


def _split(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    container, _, obj = unquote(value, encoding="latin-1").lstrip("/").partition("/")
    if not container or not obj:
        return None
    return container, obj


def copy_source_and_dest(environ: dict) -> tuple[tuple, tuple] | None:
    """``((account, container, obj), (account, container, obj))`` of a copy (WSGI
    strings), or ``None`` when it is no well-formed copy (the proxy then answers it)."""
    parts = object_parts(environ)
    if parts is None:
        return None
    version, account, container, obj = parts
    if environ["REQUEST_METHOD"] == "COPY":
        dest = _split(environ.get("HTTP_DESTINATION"))
        if dest is None:
            return None
        return ((account, container, obj),
                (environ.get("HTTP_DESTINATION_ACCOUNT") or account, *dest))
    source = _split(environ.get("HTTP_X_COPY_FROM"))
    if source is None:
        return None
    return ((environ.get("HTTP_X_COPY_FROM_ACCOUNT") or account, *source),
            (account, container, obj))


def is_copy(environ: dict) -> bool:
    """True for ``COPY`` and for ``PUT`` with ``X-Copy-From``."""
    method = environ["REQUEST_METHOD"]
    return method == "COPY" or (method == "PUT" and "HTTP_X_COPY_FROM" in environ)


def copy_assembled(filter_app, environ: dict, start_response,
                   is_manifest: Callable[[dict], bool]):
    """Answer a copy whose source is a manifest of ``filter_app`` with a copy of the
    assembled object; any other copy goes on down the pipeline untouched."""
    ends = copy_source_and_dest(environ)
    parts = object_parts(environ)
    if ends is None or parts is None:
        return filter_app.app(environ, start_response)
    version = parts[0]
    (s_acc, s_con, s_obj), (d_acc, d_con, d_obj) = ends
    src_path = f"/{version}/{s_acc}/{s_con}/{s_obj}"
    head = call(filter_app.app, make_environ(environ, "HEAD", src_path,
                                             "multipart-manifest=get"))
    head.close()
    if head.status // 100 != 2 or not is_manifest(head.headers):
        return filter_app.app(environ, start_response)
    source = call(filter_app, make_environ(environ, "GET", src_path))
    if source.status != 200:
        source.close()
        start_response(status_line(source.status), [("Content-Length", "0")])
        return []
    headers: dict[str, str] = {}
    if environ.get("HTTP_X_FRESH_METADATA", "").lower() not in ("true", "1", "yes", "on"):
        for name, value in source.header_list:
            lname = name.lower()
            if lname in COPIED_HEADERS or lname.startswith("x-object-meta-"):
                headers[name] = value
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in _NOT_CARRIED:
            headers[key[5:].replace("_", "-").title()] = value
    if environ.get("CONTENT_TYPE") and environ["REQUEST_METHOD"] == "COPY":
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    length = source.headers.get("content-length")
    body = IterReader(source.body)
    put_env = make_environ(environ, "PUT", f"/{version}/{d_acc}/{d_con}/{d_obj}",
                           headers=headers, body_file=body,
                           length=int(length) if length is not None else None)
    if length is None:
        put_env["HTTP_TRANSFER_ENCODING"] = "chunked"
    try:
        put = call(filter_app.app, put_env)
        answer = put.read(1 << 16)
    finally:
        body.close()
    out = list(put.header_list)
    if put.status == 201:
        out.append(("X-Copied-From", quote(f"{s_con}/{s_obj}".encode("latin-1"))))
        if s_acc != d_acc:
            out.append(("X-Copied-From-Account", quote(s_acc.encode("latin-1"))))
        modified = head.headers.get("last-modified")
        if modified:
            out.append(("X-Copied-From-Last-Modified", modified))
    start_response(status_line(put.status), out)
    return [answer] if answer else []
