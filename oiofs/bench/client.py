"""The bench's requests, made with :mod:`oiofs.client` (one HTTP client in the project).

The bench needs what an application does not: every answer back as it came (status,
headers, body), so that *it* decides what is an error and counts it, and no retries, so
that a failure is measured rather than hidden. So each worker gets a :class:`BenchClient`
over one shared :class:`oiofs.client.Connection` made with ``retry=NO_RETRY`` and
accepting every status. The library's keep-alive pool keeps the cost of TCP set-up out of
what is measured; an idle connection the server closed is detected before use (or the
request is sent once more on a fresh connection when it died before answering), and
``stale_retries`` counts both.

Targets are checked to be loopback (:mod:`oiofs.bench.target`) before anything is sent:
the auth URL, then the storage URL the auth service hands back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from oiofs.bench.errors import AuthFailed
from oiofs.bench.target import Endpoint, parse_endpoint
from oiofs.client import NO_RETRY, ClientError, Connection, HTTPStatusError


@dataclass
class Reply:
    """Status, headers (lower-case names) and, unless streamed away, the body of a response."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def etag(self) -> str:
        """The ETag header without quotes ("" if absent)."""
        return self.headers.get("etag", "").strip('"')


def _any_status(status: int) -> bool:
    return True


class BenchClient:
    """One worker's handle on the shared connection (safe to use from its own thread)."""

    def __init__(self, conn: Connection):
        self.conn = conn

    @property
    def stale_retries(self) -> int:
        return self.conn.pool.stale

    def close(self) -> None:
        """Close the idle keep-alive connections."""
        self.conn.close()

    def request(self, method: str, container: str | None = None, obj: str | None = None,
                headers: dict[str, str] | None = None,
                body: bytes | Callable[[], Iterable[bytes | memoryview]] | None = None,
                length: int | None = None, query: dict | None = None,
                sink: Callable[[bytes], None] | None = None) -> Reply:
        """Send one request and read the whole answer, whatever its status.

        ``body`` is bytes, or a callable returning an iterable of chunks (called again if
        the request has to be resent) with ``length`` its total size. With ``sink``, the
        answer's body is passed to it chunk by chunk instead of being kept. Transport
        failures raise :class:`oiofs.client.TransportError`.
        """
        with self.conn.request(method, container, obj, headers=headers, data=body,
                               length=length, query=query, accept=_any_status) as resp:
            reply = Reply(resp.status, resp.headers)
            if sink is None:
                reply.body = resp.read_all(1 << 30)
            else:
                for chunk in resp:
                    sink(chunk)
        return reply


def authenticate(auth_url: str, user: str, key: str,
                 timeout: float = 30.0) -> tuple[Endpoint, Connection]:
    """Log in with tempauth v1; the (loopback-checked) storage endpoint and a connection.

    Raises :class:`~oiofs.bench.errors.TargetRefused` for a non-loopback auth or storage URL
    and :class:`~oiofs.bench.errors.AuthFailed` when the answer is not a usable 2xx.
    """
    endpoint = parse_endpoint(auth_url)
    checked = endpoint.url  # connect to the checked address, never a new resolution
    conn = Connection(checked, user, key, timeout=timeout, retry=NO_RETRY)
    try:
        token = conn.authenticate()
    except HTTPStatusError as err:
        raise AuthFailed(f"auth for {user} answered {err.status} ({err.reason})") from None
    except ClientError as err:
        raise AuthFailed(f"auth request to {endpoint.url} failed: {err}") from None
    finally:
        conn.close()
    storage = parse_endpoint(token.storage_url)
    # From now on every request goes to the checked address of the storage URL.
    return storage, Connection(checked, user, key, storage_url=storage.url,
                               token=token.value, timeout=timeout, retry=NO_RETRY,
                               max_idle=64)
