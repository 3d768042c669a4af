"""Where the benchmark may send requests: loopback only.

The benchmark generates heavy load, so it refuses any target that is not this machine. A host
name is resolved once, every address it resolves to must be loopback (``127.0.0.0/8`` or
``::1``), and connections then go to that checked address, never to a fresh resolution.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from oiofs.bench.errors import TargetRefused


def is_loopback_address(address: str) -> bool:
    """True if ``address`` is a literal IP address in 127.0.0.0/8 or ``::1``."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def resolve_loopback(host: str, port: int) -> str:
    """The address to connect to for ``host``; :class:`TargetRefused` unless all are loopback.

    A name that resolves to a mix of loopback and other addresses is refused too: which one a
    later resolution would pick is not ours to decide.
    """
    if not host:
        raise TargetRefused("no host in the URL")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise TargetRefused(f"cannot resolve {host!r}: {err}") from None
    addresses = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone index
        if address not in addresses:
            addresses.append(address)
    refused = [a for a in addresses if not is_loopback_address(a)]
    if refused or not addresses:
        raise TargetRefused(f"{host!r} resolves to non-loopback {', '.join(refused)}; "
                            "oiofs-bench only targets 127.0.0.0/8 or ::1")
    return addresses[0]


@dataclass(frozen=True)
class Endpoint:
    """An HTTP URL whose host was checked to be loopback.

    ``address`` is what connections use; ``path`` is the URL path without a trailing slash
    (``/v1/AUTH_test``), with the query string kept apart in ``query``.
    """

    host: str
    address: str
    port: int
    path: str
    query: str = ""

    @property
    def url(self) -> str:
        """The URL as it will be used (with the checked address)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        query = f"?{self.query}" if self.query else ""
        return f"http://{host}:{self.port}{self.path}{query}"


def parse_endpoint(url: str) -> Endpoint:
    """Parse an ``http://`` URL and check its host; :class:`TargetRefused` if unusable."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise TargetRefused(f"only http:// URLs are supported, not {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise TargetRefused(f"bad port in {url!r}") from None
    host = parts.hostname or ""
    address = resolve_loopback(host, port)
    return Endpoint(host=host, address=address, port=port,
                    path=parts.path.rstrip("/") or "", query=parts.query)
