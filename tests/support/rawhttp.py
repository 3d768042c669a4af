"""Exact bytes to a server and strict parsing of what comes back, on one keep-alive socket.

Client libraries hide what these tests look at (a raw UTF-8 request target, a byte sent
after the headers of a ``HEAD`` answer), so :class:`RawConnection` writes requests as
given and parses answers with ``http.client``'s parser reading from one shared buffer:
any stray byte left after an answer makes the *next* answer fail to parse, exactly as it
would for a keep-alive client.

>>> conn = RawConnection(port)                                  # doctest: +SKIP
>>> conn.send(b"HEAD /v1/AUTH_test/c/nope HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")  # doctest: +SKIP
>>> conn.answer(head=True).status                               # doctest: +SKIP
404
"""

from __future__ import annotations

import http.client
import socket


class Answer:
    """A parsed answer: ``status``, ``headers`` (a ``(name, value)`` list), ``body``."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes,
                 will_close: bool):
        self.status = status
        self.headers = headers
        self.body = body
        self.will_close = will_close

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or ``None``."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Answer {self.status} {self.body[:120]!r}>"


class _SharedFile:
    """What ``http.client.HTTPResponse`` takes for a socket: it reads our one buffer and
    cannot close it (it closes its file once an answer is read)."""

    def __init__(self, fp):
        self.fp = fp

    def makefile(self, mode):
        return self

    def __getattr__(self, name):
        return getattr(self.fp, name)

    def close(self):
        pass


class RawConnection:
    """One TCP connection to ``127.0.0.1:port`` for raw requests and strict answers."""

    def __init__(self, port: int, timeout: float = 20.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.fp = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        """Write ``data`` exactly as given."""
        self.sock.sendall(data)

    def answer(self, head: bool = False) -> Answer:
        """Parse the next answer (``head``: the answer to a ``HEAD``, no body expected).

        Raises ``http.client.HTTPException`` (or ``OSError``) when the bytes are not an
        HTTP answer or the server closed the connection instead of answering.
        """
        resp = http.client.HTTPResponse(_SharedFile(self.fp),
                                        method="HEAD" if head else "GET")
        resp.begin()
        body = resp.read()
        return Answer(resp.status, resp.getheaders(), body, resp.will_close)

    def request(self, method: str, target: bytes, headers: dict | None = None,
                body: bytes = b"", extra: bytes = b"") -> Answer:
        """Send one request (target and ``extra`` header lines as raw bytes) and parse
        its answer."""
        self.send(build(method, target, headers, body, extra))
        return self.answer(head=method == "HEAD")

    def is_closed(self, wait: float = 0.5) -> bool:
        """True if the server closed the connection (nothing more to read)."""
        self.sock.settimeout(wait)
        try:
            return self.fp.peek(1) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.fp.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build(method: str, target: bytes, headers: dict | None = None, body: bytes = b"",
          extra: bytes = b"") -> bytes:
    """The bytes of an HTTP/1.1 request; ``Content-Length`` added for a body."""
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    hdrs = dict(headers or {})
    if body and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    for name, value in hdrs.items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    head = b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"
    return head + body
