"""The concurrency runtime: the only module of oiofs that imports eventlet.

Servers and daemons use green threads. Everything they need from the runtime goes through
this module (monkey-patching, spawning, pools, timeouts, the WSGI server, running blocking
disk calls in real threads), so the runtime could be swapped later without touching the
servers.

``import eventlet`` prints a deprecation notice (its maintainers recommend asyncio for new
projects). oiofs keeps eventlet as its chosen runtime for now and silences that notice here,
deliberately, in this one place.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.debug
    import eventlet.greenio
    import eventlet.hubs
    import eventlet.queue
    import eventlet.semaphore
    import eventlet.tpool
    import eventlet.wsgi

from oiofs.common import constraints  # after eventlet, whose import is quieted

GreenPool = eventlet.GreenPool
GreenPile = eventlet.GreenPile
Timeout = eventlet.Timeout
Queue = eventlet.queue.Queue
LightQueue = eventlet.queue.LightQueue
Empty = eventlet.queue.Empty
Semaphore = eventlet.semaphore.Semaphore
Event = eventlet.Event
sleep = eventlet.sleep
spawn = eventlet.spawn
spawn_n = eventlet.spawn_n
spawn_after = eventlet.spawn_after
getcurrent = eventlet.getcurrent
kill = eventlet.kill
listen = eventlet.listen
wsgi_server = eventlet.wsgi.server
GreenSocket = eventlet.greenio.GreenSocket

_patched = False
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _fresh_hub_in_child() -> None:
    """Give a forked child a hub of its own (run by ``os.fork`` in the child, first of the
    after-fork hooks: this module registers it at import, before any server module).

    A child that kept its parent's hub would share the parent's epoll instance through
    the inherited descriptor: the parent's and every sibling worker's registrations would
    then wake this process for sockets that are not its own, which it never reads, and
    its hub would spin (measured: a proxy worker's CPU per 64 MiB PUT doubled with three
    PUTs at once, in ``epoll_wait``). Green threads of the parent do not run in the child
    anyway; what a child needs (the workers' own loops) is started after the fork.
    """
    eventlet.hubs.use_hub()


os.register_at_fork(after_in_child=_fresh_hub_in_child)


def monkey_patch() -> None:
    """Make the standard library's sockets, time and threads green (idempotent).

    Called once at the start of every server and daemon process, before anything opens a
    socket. ``os`` and ``thread`` are left real so that fork and real threads still work.
    """
    global _patched
    if _patched:
        return
    eventlet.monkey_patch(all=False, socket=True, select=True, time=True, thread=True)
    eventlet.debug.hub_exceptions(False)
    _patched = True


def wait_readable(fd: int) -> None:
    """Block this green thread (not the process) until ``fd`` can be read."""
    eventlet.hubs.trampoline(fd, read=True)


def tpool_execute(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Run a blocking call (fsync, large read) in a real thread; green threads go on."""
    result: _R = eventlet.tpool.execute(func, *args, **kwargs)
    return result


# eventlet ships no type information, so its classes are Any to mypy: subclassing them is
# reported (disallow_subclassing_any) and ignored here, in the one module that imports it.
class ChunkReadTimeout(eventlet.Timeout):  # type: ignore[misc]  # eventlet: no stubs
    """A client did not send the next chunk of a body in time."""


class ChunkWriteTimeout(eventlet.Timeout):  # type: ignore[misc]  # eventlet: no stubs
    """A client did not take the next chunk of a body in time."""


class RequestHeaders:
    """Request headers as eventlet's server reads them: ``get`` by case-insensitive name
    (first value), ``_headers`` (all ``(name, value)`` pairs in order), ``type``."""

    __slots__ = ("_headers", "_first")

    #: what ``CONTENT_TYPE`` gets when the client sent none (as with the stdlib parser)
    type = "text/plain"

    def __init__(self, items: list[tuple[str, str]]):
        self._headers = items
        first: dict[str, str] = {}
        for name, value in items:
            first.setdefault(name.lower(), value)
        self._first = first

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._first

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        lname = name.lower()
        return [v for k, v in self._headers if k.lower() == lname] or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def keys(self) -> list[str]:
        return [k for k, _ in self._headers]

    def get_content_type(self) -> str:
        return self._first.get("content-type", self.type)


class HttpProtocol(eventlet.wsgi.HttpProtocol):  # type: ignore[misc]  # eventlet: no stubs
    """eventlet's HTTP/1.1 server protocol with a much cheaper request-head parser.

    The standard library parses request headers through the ``email`` package: ~50 us a
    request, a tenth of what the proxy spends on a small GET. Requests in the usual form
    (``METHOD target HTTP/1.0|1.1`` then ``Name: value`` lines) are parsed here directly,
    under the same limits (eventlet's line and total size caps) and at most
    :func:`~oiofs.common.constraints.max_header_count` headers (126 by default, as Swift:
    too much metadata is then a 400 with the reason, not a 431);
    other request lines go to the standard parser, and folded or malformed header lines
    are refused with 400, so only the speed changes for well-formed requests. Requests
    that could be framed two ways (differing ``Content-Length`` headers, or one with
    ``Transfer-Encoding``) are refused with 400 too.
    """

    def parse_request(self) -> bool:
        raw: bytes = self.raw_requestline
        # Split the bytes, not the decoded text: several clients send object names as raw
        # UTF-8, and str.split() would also cut at bytes such as 0x85 and 0xa0 once they
        # are decoded as latin-1 (the second byte of "à" is 0xa0). The target is kept as
        # WSGI wants it (latin-1 text); the apps check that it is UTF-8.
        words = raw.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            parsed: bool = super().parse_request()
            return parsed
        command, path, version = (word.decode("iso-8859-1") for word in words)
        self.requestline = raw.decode("iso-8859-1").rstrip("\r\n")
        self.command, self.request_version = command, version
        if path.startswith("//"):
            path = "/" + path.lstrip("/")  # as the stdlib does (gh-87389)
        self.path = path
        self.close_connection = version == "HTTP/1.0"
        items: list[tuple[str, str]] = []
        max_headers = constraints.max_header_count()
        readline = self.rfile.readline  # eventlet's wrapper enforces the size limits
        while True:
            line = readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            if len(items) >= max_headers:
                self.send_error(431, "Too many headers")
                return False
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep or not name or " " in name or "\t" in name:  # names are tokens
                self.send_error(400, "Bad header line")
                return False
            items.append((name, value.strip(" \t\r\n")))
        self.headers = headers = RequestHeaders(items)
        lengths = headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1:
            self.send_error(400, "Conflicting Content-Length headers")
            return False
        if lengths and "Transfer-Encoding" in headers:
            # Refused here rather than by eventlet, whose refusal has a body even after
            # a HEAD (send_error leaves it out).
            self.send_error(400, "Content-Length and Transfer-Encoding together")
            return False
        conntype = (headers.get("Connection") or "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive":
            self.close_connection = False
        if version == "HTTP/1.1" and (headers.get("Expect") or "").lower() == "100-continue":
            expected: bool = self.handle_expect_100()
            return expected
        return True
