"""Direct HTTP requests to storage servers, with connect and response timeouts.

Every component that talks to another node (object server to container server, container
server to account server, daemons to their peers, the proxy's slow paths) goes through
here. Paths follow the backend protocol (``docs/backend-protocol.md``):
``/<device>/<partition>/<account>[/<container>[/<object>]]``.

Requests are made with ``http.client`` (green once :func:`oiofs.common.runtime.monkey_patch`
ran) on a new connection each; the proxy keeps its own pool of keep-alive connections.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, overload
from urllib.parse import quote, urlencode

from oiofs.common.access_log import new_trans_id
from oiofs.common.backend_protocol import TRANS_ID_HEADER
from oiofs.common.exceptions import ClientException, ConnectionTimeout, NodeTimeout
from oiofs.common.logger import RepeatLimiter, node_key

DEFAULT_CONN_TIMEOUT = 0.5
DEFAULT_RESPONSE_TIMEOUT = 10.0

_T = TypeVar("_T")
#: a query string, or its parameters to encode
Query = Mapping[str, str] | str


def backend_path(device: str, partition: int | str, account: str, container: str | None = None,
                 obj: str | None = None) -> str:
    """The quoted backend path ``/<device>/<partition>/<account>[/<container>[/<object>]]``."""
    path = f"/{device}/{partition}/{account}"
    if container is not None:
        path += f"/{container}"
    if obj is not None:
        path += f"/{obj}"
    return quote(path, safe="/")


class DirectResponse:
    """A finished response: ``status``, ``headers`` (case-insensitive dict) and ``body``."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Headers(dict[str, str]):
    def __init__(self, items: Iterable[tuple[str, str]]):
        super().__init__((k.lower(), v) for k, v in items)

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...

    def get(self, key: str, default: object = None, /) -> object:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


def http_connect(ip: str, port: int, method: str, path: str,
                 headers: Mapping[str, object] | None = None, query: Query | None = None,
                 conn_timeout: float = DEFAULT_CONN_TIMEOUT,
                 response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
                 ) -> http.client.HTTPConnection:
    """Open a connection and send the request line and headers (body still to send).

    A request sent without an ``X-Trans-Id`` (a daemon's own) gets a fresh one, so that
    it can be followed through the logs of the servers it reaches. Raises
    :class:`ConnectionTimeout` when the node does not accept in time.
    """
    if query:
        path += "?" + (query if isinstance(query, str) else urlencode(query))
    conn = http.client.HTTPConnection(ip, int(port), timeout=conn_timeout)
    try:
        conn.connect()
    except TimeoutError:
        conn.close()
        raise ConnectionTimeout(f"connect to {ip}:{port} timed out") from None
    conn.sock.settimeout(response_timeout)
    conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
    has_trans_id = False
    for key, value in (headers or {}).items():
        conn.putheader(key, str(value))
        has_trans_id = has_trans_id or key.lower() == "x-trans-id"
    if not has_trans_id:
        conn.putheader(TRANS_ID_HEADER, new_trans_id())
    return conn


def direct_request(ip: str, port: int, method: str, path: str,
                   headers: Mapping[str, object] | None = None, body: bytes | None = None,
                   query: Query | None = None,
                   conn_timeout: float = DEFAULT_CONN_TIMEOUT,
                   response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
                   expect_success: bool = False) -> DirectResponse:
    """Make one request and read the whole response (for small bodies only).

    Network failures raise :class:`ConnectionTimeout`, :class:`NodeTimeout` or
    :class:`ClientException`. With ``expect_success`` a non-2xx status raises
    :class:`ClientException` carrying the status.
    """
    headers = dict(headers or {})
    if body is not None:
        headers["Content-Length"] = str(len(body))
    elif method in ("PUT", "POST") and "Transfer-Encoding" not in headers:
        headers.setdefault("Content-Length", "0")
    try:
        conn = http_connect(ip, port, method, path, headers, query, conn_timeout,
                            response_timeout)
        try:
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            result = DirectResponse(resp.status, _Headers(resp.getheaders()), data)
        finally:
            conn.close()
    except TimeoutError:
        raise NodeTimeout(f"{method} {ip}:{port}{path} timed out") from None
    except (OSError, http.client.HTTPException) as err:
        raise ClientException(f"{method} {ip}:{port}{path}: {err}", http_host=ip,
                              http_port=port) from err
    if expect_success and not 200 <= result.status < 300:
        raise ClientException(f"{method} {ip}:{port}{path} answered {result.status}",
                              http_status=result.status, http_headers=result.headers,
                              http_body=result.body, http_host=ip, http_port=port)
    return result


def direct_status(node: Mapping[str, Any], method: str, path: str,
                  headers: Mapping[str, object], conn_timeout: float = DEFAULT_CONN_TIMEOUT,
                  response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
                  logger: logging.Logger | None = None, who: str = "",
                  repeats: RepeatLimiter | None = None) -> int | None:
    """The status of one bodiless request to ``node``, or ``None`` if it could not be
    reached (then logged as a warning by ``who``, through ``repeats`` if given: one line
    per node per interval)."""
    try:
        return direct_request(node["ip"], node["port"], method, path, headers=headers,
                              conn_timeout=conn_timeout,
                              response_timeout=response_timeout).status
    except (ConnectionTimeout, NodeTimeout, ClientException) as err:
        if logger is not None:
            (repeats or RepeatLimiter(0)).log(
                logger, logging.WARNING, node_key(node), "%s: %s %s:%s%s failed: %s", who,
                method, node["ip"], node["port"], path, err)
        return None
