"""Which container a write lands in and how many bytes it adds: for the quota filters.

An object ``PUT`` adds its ``Content-Length`` (0 when chunked: the size is not known
before the body is read, as in Swift) to its own container; a copy (``PUT`` with
``X-Copy-From``, or ``COPY`` to a ``Destination``) adds the source's size, learnt by a
``HEAD`` of the source through the rest of the pipeline as the requesting user (so a
large object counts with its segments). Anything else adds nothing and is not looked at.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from oiofs.common.exceptions import HTTPError
from oiofs.proxy.controllers.copy import split_target
from oiofs.proxy.middleware.subrequest import call, make_environ, to_wsgi
from oiofs.proxy.request import split_api_path


class Write:
    """An object write: its destination (text names) and the bytes it adds."""

    __slots__ = ("account", "container", "obj", "size", "manifest_put")

    def __init__(self, account: str, container: str, obj: str, size: int,
                 manifest_put: bool = False):
        self.account = account
        self.container = container
        self.obj = obj
        self.size = size
        self.manifest_put = manifest_put


def _text(value: str) -> str | None:
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def _length(environ: dict) -> int:
    value = environ.get("CONTENT_LENGTH") or "0"
    return int(value) if value.isdigit() else 0


def path_kind(path: str) -> str | None:
    """``"account"``, ``"container"`` or ``"object"``: what the proxy will take the WSGI
    ``path`` for (``/v1/a/`` is the account, as for the proxy), or ``None``.

    >>> path_kind("/v1/a/"), path_kind("/v1/a/c"), path_kind("/v1/a/c/o/"), path_kind("/x")
    ('account', 'container', 'object', None)
    """
    try:
        _version, _account, container, obj = split_api_path(
            path.encode("latin-1").decode("utf-8"))
    except (HTTPError, UnicodeError):
        return None
    return "object" if obj else "container" if container else "account"


def source_size(app, environ: dict, account: str, container: str, obj: str) -> int:
    """The size of the object a copy reads (0 if it cannot be read: the copy itself
    then answers the error)."""
    path = to_wsgi(f"/v1/{account}/{container}/{obj}")
    resp = call(app, make_environ(environ, "HEAD", path))
    resp.close()
    if resp.status // 100 != 2:
        return 0
    value = resp.headers.get("content-length", "0")
    return int(value) if value.isdigit() else 0


def object_write(app, environ: dict) -> Write | None:
    """The write ``environ`` makes, or ``None`` (not an object write, or a bad request
    the proxy will refuse itself)."""
    method = environ["REQUEST_METHOD"]
    if method not in ("PUT", "COPY"):
        return None
    parts = environ.get("PATH_INFO", "").split("/", 4)
    if len(parts) < 5 or parts[0] or parts[1] not in ("v1", "v1.0") or \
            not all(parts[2:]):
        return None
    account, container, obj = (_text(p) for p in parts[2:])
    if account is None or container is None or obj is None:
        return None
    try:
        if method == "COPY":
            dst_container, dst_obj = split_target(environ.get("HTTP_DESTINATION"),
                                                  "Destination")
            dst_account = _text(environ.get("HTTP_DESTINATION_ACCOUNT", "")) or account
            size = source_size(app, environ, account, container, obj)
            return Write(dst_account, dst_container, dst_obj, size)
        copy_from = environ.get("HTTP_X_COPY_FROM")
        if copy_from:
            src_container, src_obj = split_target(copy_from, "X-Copy-From")
            src_account = _text(environ.get("HTTP_X_COPY_FROM_ACCOUNT", "")) or account
            size = source_size(app, environ, src_account, src_container, src_obj)
            return Write(account, container, obj, size)
    except HTTPError:
        return None  # a malformed copy: the proxy answers it
    manifest = "multipart-manifest" in environ.get("QUERY_STRING", "") and \
        parse_qs(environ["QUERY_STRING"]).get("multipart-manifest") == ["put"]
    return Write(account, container, obj, 0 if manifest else _length(environ), manifest)
