"""What a piece of work leaves that only Python's cyclic garbage collector would free."""

from __future__ import annotations

import gc
import io


def cyclic_garbage(work) -> list:
    """The request environs ``work()`` left that only the cyclic collector would free
    (an empty list: each request's environ went as soon as it was answered)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        work()
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, dict) and "REQUEST_METHOD" in o]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def answer_get(app, path: str, query: str = "") -> bytes:
    """The body a WSGI ``app`` answers to a plain ``GET path?query`` (a fresh environ,
    as a server would build it: nothing of the test's own kept in it)."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    return b"".join(app(environ, lambda *args: None))
