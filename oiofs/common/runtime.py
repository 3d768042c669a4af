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

import warnings

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


def tpool_execute(func, *args, **kwargs):
    """Run a blocking call (fsync, large read) in a real thread; green threads go on."""
    return eventlet.tpool.execute(func, *args, **kwargs)


class ChunkReadTimeout(Timeout):
    """A client did not send the next chunk of a body in time."""


class ChunkWriteTimeout(Timeout):
    """A client did not take the next chunk of a body in time."""
