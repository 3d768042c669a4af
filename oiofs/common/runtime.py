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
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.debug
    import eventlet.greenio
    import eventlet.hubs
    import eventlet.patcher
    import eventlet.queue
    import eventlet.semaphore
    import eventlet.wsgi

from oiofs.common import constraints  # after eventlet, whose import is quieted
from oiofs.common.http.bodiless import body_forbidden

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
#: the standard library's own ``threading`` and ``queue``, whatever monkey-patching did:
#: for the real threads of :mod:`oiofs.common.real_threads`
real_threading = eventlet.patcher.original("threading")
real_queue = eventlet.patcher.original("queue")
#: environ key: the smallest piece of an answer's body the server writes at once (0: each
#: piece as it comes; a filter sending keep-alive spaces sets it)
MINIMUM_WRITE_CHUNK_KEY = "eventlet.minimum_write_chunk_size"

_patched = False


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


_wsgi: Any = eventlet.wsgi
#: a header block read from the buffer at once must be shorter than eventlet's limit on
#: one header line (8192): no limit can then be passed, none needs checking
_HEADER_BLOCK_FAST_MAX = 8000
#: header name as sent -> its environ key (``None``: left out of the environ)
_ENVIRON_KEYS: dict[str, str | None] = {}
_MAX_ENVIRON_KEYS = 4096  # names remembered (a client may send any)


def _environ_key(name: str) -> str | None:
    """``HTTP_<NAME>`` for a request header name, as eventlet makes it; ``None`` for
    names with ``_`` (which eventlet leaves out: ``X_Foo`` would pass for ``X-Foo``) and
    for ``Content-Type``/``Content-Length`` (``CONTENT_*`` keys, set apart)."""
    key = _ENVIRON_KEYS.get(name, "")
    if key != "":
        return key
    if "_" in name:
        key = None
    else:
        key = name.replace("-", "_").upper()
        key = None if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
    if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
        _ENVIRON_KEYS[name] = key
    return key


class _DateLine:
    """The ``Date`` header line of the current second, made once per second."""

    second = -1
    line = b""


def _date_line() -> bytes:
    now = int(time.time())
    if now != _DateLine.second:
        _DateLine.line = b"Date: %s\r\n" % _wsgi.format_date_time(now).encode("ascii")
        _DateLine.second = now
    return _DateLine.line


def _header_block(response_headers: list[tuple[str, str]]) -> bytes:
    """The header lines of an answer, latin-1 encoded (PEP 3333)."""
    try:
        return "".join([f"{name}: {value}\r\n" for name, value in response_headers]
                       ).encode("latin-1")
    except UnicodeEncodeError:
        # eventlet's encoder names the culprit in its error
        return b"".join([_wsgi._encode_header_line(h) for h in response_headers])


def _close(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


class HttpProtocol(eventlet.wsgi.HttpProtocol):  # type: ignore[misc]  # eventlet: no stubs
    """eventlet's HTTP/1.1 server protocol with a much cheaper request-head parser,
    environ and answer path, and no body ever sent where HTTP forbids one.

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

    The environ (:meth:`get_environ`) and the answer (:meth:`handle_one_response`) are
    eventlet's, made with less work per request: what belongs to the connection
    (addresses, the server's keys: one ``getsockname`` per connection, not per request)
    is computed once per connection, header names are turned into environ keys once per
    process, the ``Date`` line once per second, and the status line and headers go out
    with the body's first bytes in one ``send``. The answer also does what
    :func:`oiofs.common.http.bodiless.without_forbidden_bodies` does, so servers need not
    wrap their application in it: after the headers of an answer to ``HEAD`` or of a
    ``1xx``, ``204`` or ``304`` answer, no byte of the application's body is sent (a
    body known when the application returns is closed unread).
    """

    _connection_environ: dict[str, Any] | None = None

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
        lines: Iterable[str | bytes] | None = self._buffered_header_lines()
        if lines is None:  # not all in the buffer, or unusual: one line at a time
            readline = self.rfile.readline  # eventlet's wrapper enforces the size limits
            lines = iter(lambda: readline(65537), None)
        for line in lines:
            if line in ("\r\n", "\n", "", b"\r\n", b"\n", b""):
                break
            if len(items) >= max_headers:
                self.send_error(431, "Too many headers")
                return False
            name, sep, value = (line if isinstance(line, str) else
                                line.decode("iso-8859-1")).partition(":")
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

    def _buffered_header_lines(self) -> list[str] | None:
        """The header lines as text (without their CRLF, then an empty one) when the
        whole header block already sits in the read buffer, every line of it ends with
        CRLF and it is shorter than one header line may be; ``None`` otherwise (the caller
        reads line by line, with eventlet's limits). One read of the buffer and one decode
        instead of a ``readline``, a limit check and a decode per line."""
        fp: Any = getattr(self.rfile, "fp", None)  # eventlet's size-checking wrapper
        if fp is None or not hasattr(fp, "peek"):
            return None
        buffered: bytes = fp.peek()
        if buffered.startswith(b"\r\n"):
            fp.read(2)
            return [""]
        end = buffered.find(b"\r\n\r\n", 0, _HEADER_BLOCK_FAST_MAX)
        if end < 0:
            return None
        block = buffered[:end + 2].decode("iso-8859-1")
        lines = block.split("\r\n")
        if "\n" in block.replace("\r\n", ""):
            return None  # a bare LF ends a line for readline: leave those to it
        fp.read(end + 4)
        return lines  # the block ended with CRLF: its last piece is the empty line

    # --- the environ --------------------------------------------------------------------

    def _make_connection_environ(self) -> dict[str, Any]:
        env: dict[str, Any] = self.server.get_environ()
        env["SCRIPT_NAME"] = ""
        env["SERVER_PROTOCOL"] = "HTTP/1.0"  # eventlet's value, whatever the request's
        host, port = _wsgi.addr_to_host_port(self.request.getsockname())
        env["SERVER_NAME"], env["SERVER_PORT"] = host, str(port)
        host, port = _wsgi.addr_to_host_port(self.client_address)
        env["REMOTE_ADDR"], env["REMOTE_PORT"] = host, str(port)
        env["GATEWAY_INTERFACE"] = "CGI/1.1"
        return env

    def _set_idle(self) -> None:
        self.conn_state[2] = _wsgi.STATE_IDLE

    def get_environ(self) -> dict[str, Any]:
        """The request's WSGI environ, with the same keys and values as eventlet's."""
        headers = self.headers
        if not isinstance(headers, RequestHeaders):  # parsed by the standard library
            env: dict[str, Any] = super().get_environ()
            return env
        base = self._connection_environ
        if base is None:
            base = self._connection_environ = self._make_connection_environ()
        env = base.copy()
        env["REQUEST_METHOD"] = self.command
        path, question, query = self.path.partition("?")
        env["RAW_PATH_INFO"] = path
        env["PATH_INFO"] = unquote(path, encoding="latin1")
        if question:
            env["QUERY_STRING"] = query
        first = headers._first
        env["CONTENT_TYPE"] = first.get("content-type", headers.type)
        length = first.get("content-length")
        if length:
            env["CONTENT_LENGTH"] = length
        items = headers._headers
        env["headers_raw"] = tuple(items)
        for name, value in items:
            key = _environ_key(name)
            if key is None:
                continue
            if key in env:
                env[key] += "," + value
            else:
                env[key] = value
        expect = env.get("HTTP_EXPECT")
        if expect is not None and expect.lower() == "100-continue":
            wfile, wfile_line = self.wfile, b"HTTP/1.1 100 Continue\r\n"
        else:
            wfile = wfile_line = None
        encoding = env.get("HTTP_TRANSFER_ENCODING")
        chunked = encoding is not None and encoding.lower() == "chunked"
        if not chunked and length is None:
            length = "0"  # RFC 9112 6.3: no length, not chunked: no body
        env["wsgi.input"] = env["eventlet.input"] = _wsgi.Input(
            self.rfile, length, self.connection, wfile=wfile, wfile_line=wfile_line,
            chunked_input=chunked)
        env["eventlet.posthooks"] = []
        env["eventlet.set_idle"] = self._set_idle
        return env

    # --- the answer ---------------------------------------------------------------------

    def handle_one_response(self) -> None:
        """Run the application and send its answer, as eventlet does (keep-alive,
        ``Content-Length`` of a complete body, chunked otherwise on HTTP/1.1, ``Date``,
        500 on an error before the headers, unread body discarded before the next
        request), without a body where HTTP forbids one."""
        if self.server.log_output:
            super().handle_one_response()
            return
        env = self.environ
        request_input = env["eventlet.input"]
        headers_sent: list[int] = []
        request_input.headers_sent = headers_sent  # no 100 Continue after an answer
        headers_set: list[Any] = []  # [status line, headers]
        wfile = self.wfile
        chunked = bodyless = False
        capitalize = self.capitalize_response_headers

        def write(data: bytes) -> None:
            nonlocal chunked
            if headers_sent:
                if bodyless:
                    return
                if chunked:
                    data = b"%x\r\n%s\r\n" % (len(data), data)
                wfile.write(data)
                wfile.flush()
                return
            if not headers_set:
                raise AssertionError("write() before start_response()")
            headers_sent.append(1)
            status, response_headers = headers_set
            names = [name.lower() for name, _ in response_headers]
            towrite = [f"{self.protocol_version} {status}\r\n".encode(),
                       _header_block(response_headers)]
            if "date" not in names:
                towrite.append(_date_line())
            client_conn = (self.headers.get("Connection") or "").lower()
            send_keep_alive = False
            if not self.close_connection and self.server.keepalive and (
                    client_conn == "keep-alive" or (self.request_version == "HTTP/1.1"
                                                    and client_conn != "close")):
                # keep-alive is said back only to clients that asked for it (HTTP/1.0)
                send_keep_alive = client_conn == "keep-alive"
                self.close_connection = False
            else:
                self.close_connection = True
            if "content-length" not in names and not bodyless:
                if self.request_version == "HTTP/1.1":
                    chunked = True
                    towrite.append(b"Transfer-Encoding: chunked\r\n")
                else:
                    self.close_connection = True  # an HTTP/1.0 client reads to the end
            if self.close_connection:
                towrite.append(b"Connection: close\r\n")
            elif send_keep_alive:
                towrite.append(b"Connection: keep-alive\r\n")
                timeout = int(self.server.keepalive or 0)
                if not isinstance(self.server.keepalive, bool) and timeout:
                    towrite.append(b"Keep-Alive: timeout=%d\r\n" % timeout)
            towrite.append(b"\r\n")
            if not bodyless:
                towrite.append(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            wfile.writelines(towrite)  # buffered: one send for a small answer
            wfile.flush()

        def start_response(status: str, response_headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            nonlocal bodyless
            code = int(status.split(" ", 1)[0])
            if exc_info:
                try:
                    if headers_sent:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None  # no reference cycle
            bodyless = body_forbidden(self.command, code) or (
                self.command == "CONNECT" and 200 <= code < 300)
            if capitalize:
                response_headers = [("-".join(part.capitalize() for part in key.split("-")),
                                     value) for key, value in response_headers]
            headers_set[:] = [status, response_headers]
            return write

        result: Iterable[bytes] | None = None
        try:
            try:
                result = self.application(env, start_response)
                if headers_set and not headers_sent:
                    if bodyless:  # known now: the body is closed unread
                        _close(result)
                        result = []
                    if hasattr(result, "__len__"):  # a complete answer
                        if not bodyless and not any(name.lower() == "content-length"
                                                    for name, _ in headers_set[1]):
                            headers_set[1].append(("Content-Length",
                                                   str(sum(map(len, result)))))
                        if request_input.should_send_hundred_continue:
                            # the body was never asked for: close rather than guess
                            # whether the client sends it anyway
                            self.close_connection = True
                minimum = int(env.get(MINIMUM_WRITE_CHUNK_KEY,
                                      self.minimum_chunk_size))
                towrite: list[bytes] = []
                size = just_written = 0
                for data in result:
                    if not data:
                        continue
                    if isinstance(data, str):
                        data = data.encode("ascii")
                    towrite.append(data)
                    size += len(data)
                    if size >= minimum:
                        write(b"".join(towrite))
                        towrite = []
                        just_written, size = size, 0
                if towrite:
                    just_written = size
                    write(b"".join(towrite))
                if not headers_sent or (chunked and just_written):
                    write(b"")  # the headers alone, or the last chunk
            except (Exception, eventlet.Timeout):
                self.close_connection = True
                self.server.log.info(traceback.format_exc())
                if not headers_sent:
                    start_response("500 Internal Server Error",
                                   [("Content-type", "text/plain"), ("Content-length", "0")])
                    write(b"")
        finally:
            _close(result)
            self._after_answer(request_input)

    def _after_answer(self, request_input: Any) -> None:
        """Close after an early answer to ``Expect: 100-continue``; discard what the
        application left of the body if the connection is kept; run the posthooks."""
        if request_input.should_send_hundred_continue:
            # a final answer and no 100 Continue: the client may or may not send the
            # body now; closing is what every client understands
            self.close_connection = True
        if request_input.chunked_input or \
                request_input.position < (request_input.content_length or 0):
            if not self.close_connection:
                try:
                    request_input.discard()
                except (_wsgi.ChunkReadError, OSError) as err:
                    self.close_connection = True
                    what = "chunked encoding" if isinstance(err, _wsgi.ChunkReadError) \
                        else "I/O"
                    self.server.log.error(
                        f"{what} error while discarding request body. client="
                        f"{self.get_client_address()[0]} request=\"{self.requestline}\" "
                        f"error=\"{err}\"")
        for hook, args, kwargs in self.environ["eventlet.posthooks"]:
            hook(self.environ, *args, **kwargs)
