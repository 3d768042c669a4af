"""The proxy's view of a client request: parsed path, headers by name, transaction id.

Deliberately thin: it reads the WSGI environ in place (no copy) and parses only the path
up front; everything else is looked up when a controller needs it.
"""

from __future__ import annotations

# made at home in oiofs.common.access_log, re-exported for the proxy's modules
from oiofs.common.access_log import TRANS_ID_KEY as TRANS_ID_KEY
from oiofs.common.access_log import new_trans_id
from oiofs.common.constraints import check_utf8, wsgi_to_str
from oiofs.common.exceptions import HTTPBadRequest, HTTPNotFound, HTTPPreconditionFailed

VERSIONS = frozenset(("v1", "v1.0"))


def ensure_trans_id(environ: dict, suffix: str = "") -> str:
    """The request's transaction id, made once per request and kept in the environ.

    The server's :class:`~oiofs.common.request_log.RequestLog` makes it as the request
    arrives; this makes one for a request that did not come through it (tests).
    """
    trans_id = environ.get(TRANS_ID_KEY)
    if trans_id is None:
        trans_id = environ[TRANS_ID_KEY] = new_trans_id(suffix)
    return trans_id


def env_key(header: str) -> str:
    """The WSGI environ key of a request header (``X-Auth-Token`` -> ``HTTP_X_AUTH_TOKEN``)."""
    key = header.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key
    return "HTTP_" + key


def header_name(key: str) -> str:
    """The header name of an environ key (``HTTP_X_OBJECT_META_A`` -> ``X-Object-Meta-A``)."""
    return key[5:].replace("_", "-").title()


def split_api_path(path: str) -> tuple[str, str, str | None, str | None]:
    """``(version, account, container, object)`` of ``/v1/<a>[/<c>[/<o>]]`` (text).

    Statuses as Swift's proxy gives them: 404 for a path with no first segment (``/``,
    ``//x``, not starting with ``/``), 400 for an unknown API version in front of an
    account, 412 ``Bad URL`` when the segments name no resource (``/v1``, ``/v1/``,
    ``/v1//c``, ``/v1/a//o``). Object names keep their slashes.

    One choice of oiofs's own: an account, container or object name that is exactly
    ``.`` or ``..`` is refused (400), so that no client, cache or file system that
    resolves dot segments ever takes such a path for another resource.
    """
    parts = path.split("/", 4)
    if parts[0] or len(parts) < 2 or not parts[1]:
        raise HTTPNotFound()
    version = parts[1]
    account = parts[2] if len(parts) > 2 else None
    container = parts[3] if len(parts) > 3 else None
    obj = parts[4] if len(parts) > 4 else None
    if account and version not in VERSIONS:
        raise HTTPBadRequest("Invalid path")
    if not account or (obj and not container):
        raise HTTPPreconditionFailed("Bad URL")
    for seg in (account, container, obj):
        if seg in (".", ".."):
            raise HTTPBadRequest("Invalid path")
    return version, account, container or None, obj or None


class ProxyRequest:
    """A client request as controllers see it.

    ``account``, ``container`` and ``obj`` are text (UTF-8 decoded); ``environ`` is the WSGI
    environ itself, whose header values are latin-1 strings passed on to backends as-is.
    """

    __slots__ = ("environ", "method", "version", "account", "container", "obj", "trans_id",
                 "owner", "remote_user", "start")

    def __init__(self, environ: dict, trans_id: str, start: float = 0.0):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.trans_id = trans_id
        self.start = start
        raw = environ.get("PATH_INFO", "")
        if not check_utf8(raw) and raw:
            raise HTTPPreconditionFailed("Invalid UTF8 or contains NULL")
        path = wsgi_to_str(raw)
        self.version, self.account, self.container, self.obj = split_api_path(path)
        self.owner = False
        self.remote_user = environ.get("REMOTE_USER")

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header's value (WSGI string), by its usual name."""
        return self.environ.get(env_key(name), default)

    get = header  # so checks written for header mappings accept a request

    def text_header(self, name: str) -> str | None:
        """A request header as real text; ``HTTPBadRequest`` if it is not valid UTF-8."""
        value = self.environ.get(env_key(name))
        return None if value is None else wsgi_to_str(value)

    def true_header(self, name: str) -> bool:
        """Whether a header is set to a true value (``true``, ``yes``, ``1``...)."""
        value = self.environ.get(env_key(name))
        return value is not None and value.strip().lower() in ("true", "1", "yes", "on",
                                                               "t", "y")

    def headers_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """``(Header-Name, value)`` of every request header starting with ``prefix``."""
        key_prefix = env_key(prefix)
        return [(header_name(k), v) for k, v in self.environ.items()
                if k.startswith(key_prefix)]

    @property
    def query_string(self) -> str:
        """The raw query string."""
        return self.environ.get("QUERY_STRING", "")
