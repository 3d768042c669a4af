"""A werkzeug request whose header lookups read the WSGI environ directly.

werkzeug's ``EnvironHeaders`` turns the asked name into its environ key on every lookup
and answers a missing header by raising ``KeyError`` and catching it; a storage server
asks a dozen names per request, most of them absent (``If-None-Match``, ``X-Delete-At``,
``X-Backend-Replication``...). :class:`ServerRequest` keeps werkzeug's ``Request`` as it
is, with :class:`EnvironHeaderView` as its ``headers``: the same answers (same keys, same
values, the same view for everything else), the names' keys remembered and a missing name
answered without an exception.

>>> req = ServerRequest({"REQUEST_METHOD": "PUT", "HTTP_X_TIMESTAMP": "1.00000",
...                      "CONTENT_TYPE": "text/plain", "PATH_INFO": "/d/1/a/c/o"})
>>> req.headers.get("x-timestamp"), req.headers.get("If-None-Match", "-")
('1.00000', '-')
>>> "Content-Type" in req.headers, "X-Delete-At" in req.headers
(True, False)
>>> req.headers.get("Content-Length", 0, type=int)
0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from werkzeug.datastructures import EnvironHeaders
from werkzeug.wrappers import Request

_T = TypeVar("_T")

#: header name as asked -> its environ key (werkzeug's rule: upper case, ``-`` -> ``_``)
_KEYS: dict[str, str] = {}
_MAX_KEYS = 4096  # names remembered (a handler asks a fixed few; a client's are not kept)
_UNSET: Any = object()


def environ_key_of(name: str) -> str:
    """The environ key werkzeug reads for header ``name``.

    >>> environ_key_of("X-Object-Meta-A"), environ_key_of("content-length")
    ('HTTP_X_OBJECT_META_A', 'CONTENT_LENGTH')
    """
    key = _KEYS.get(name)
    if key is None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[name] = key
    return key


class EnvironHeaderView(EnvironHeaders):
    """werkzeug's ``EnvironHeaders`` with the environ key of a name remembered and
    ``get``/``in`` answering a missing header without raising."""

    def _get_key(self, key: str) -> str:
        if not isinstance(key, str):
            return super()._get_key(key)
        return self.environ[environ_key_of(key)]  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None,  # type: ignore[override]
            type: Callable[[str], _T] | None = None) -> Any:
        if not isinstance(key, str):
            return super().get(key, default, type)
        value = self.environ.get(environ_key_of(key), _UNSET)
        if value is _UNSET:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except ValueError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return environ_key_of(key) in self.environ


class ServerRequest(Request):
    """werkzeug's ``Request`` with :class:`EnvironHeaderView` as its headers, and not
    stored in its environ: werkzeug's ``environ["werkzeug.request"]`` made a reference
    cycle (request -> environ -> request), so that every request's environ, its headers
    and its input waited for the cyclic garbage collector instead of going at once."""

    def __init__(self, environ: dict[str, Any], populate_request: bool = False,
                 shallow: bool = False) -> None:
        super().__init__(environ, populate_request, shallow)
        self.headers = EnvironHeaderView(environ)
