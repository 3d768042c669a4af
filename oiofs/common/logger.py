"""Logging for servers and daemons: one configured ``logging.Logger`` per component.

Options (in the component's section or ``[DEFAULT]``): ``log_name``, ``log_level``
(DEBUG, INFO, WARNING, ERROR; default INFO) and ``log_file`` (default: standard error).
Access lines go through the same logger at INFO, so ``log_level = WARNING`` silences them.
A warning that may repeat many times a second (a node down) goes through a
:class:`RepeatLimiter`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# The loggers get_logger has set up (a logger lives as long as the process): the name
# their lines carry.
_configured: dict[str, str] = {}


def get_logger(conf: dict[str, Any] | None, name: str | None = None,
               log_route: str | None = None) -> logging.Logger:
    """The logger described by ``conf``, set up once per ``log_route`` (or name)."""
    conf = conf or {}
    name = conf.get("log_name") or name or "oiofs"
    route = log_route or name
    logger = logging.getLogger(f"oiofs.{route}")
    if logger.name in _configured:
        return logger
    level = str(conf.get("log_level", "INFO")).upper()
    logger.setLevel(getattr(logging, level, logging.INFO))
    log_file = conf.get("log_file")
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s {name}[%(process)d] %(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    _configured[logger.name] = name
    return logger


class _Second:
    """The ``YYYY-mm-dd HH:MM:SS`` text of a second (local time, as logging writes it)."""

    second = -1
    text = ""


class _Pid:
    """This process's id, asked once (``os.getpid`` is a system call each time)."""

    pid = os.getpid()


def _reset_pid() -> None:
    _Pid.pid = os.getpid()


os.register_at_fork(after_in_child=_reset_pid)


def log_info_line(logger: logging.Logger, line: str) -> None:
    """Write ``line`` at INFO as ``logger`` would, without the cost of a log record.

    For the lines written on every request (access lines): a logger made by
    :func:`get_logger` writing to one stream gets the line straight on that stream, with
    the same prefix its formatter writes; any other logger gets ``logger.info``.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    name = _configured.get(logger.name)
    handlers = logger.handlers
    if name is None or len(handlers) != 1 or \
            type(handlers[0]) not in (logging.StreamHandler, logging.FileHandler):
        logger.info("%s", line)
        return
    now = time.time()
    second = int(now)
    if second != _Second.second:
        _Second.text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        _Second.second = second
    stream = handlers[0].stream  # type: ignore[attr-defined]
    stream.write(f"{_Second.text},{int((now - second) * 1000):03d} {name}[{_Pid.pid}] "
                 f"INFO {line}\n")
    stream.flush()


def node_key(node: Any) -> str:
    """``ip:port`` of a ring node (a mapping with ``ip`` and ``port``): the key under
    which a :class:`RepeatLimiter` counts the faults of one server.

    >>> node_key({"ip": "127.0.0.1", "port": 6200, "device": "d1"})
    '127.0.0.1:6200'
    """
    return f"{node['ip']}:{node['port']}"


class RepeatLimiter:
    """Lets a repeated message through at most once per ``interval`` seconds per key.

    The first occurrence of a key is logged at once; the ones that follow within
    ``interval`` are counted, not logged, and the next one logged after the interval says
    how many were left out: ``... (repeated 41 times)``. Each process (worker) limits its
    own lines. ``interval = 0`` lets everything through. ``clock`` is for tests.
    :meth:`flush` writes the last occurrence left out of each key whose interval has
    passed, with its count (a daemon does at the end of each pass; a single pass, run
    once, writes them all, so a short pass still says how many there were).

    >>> limiter = RepeatLimiter(10.0)
    >>> [limiter.check("node1", now=t) for t in (0.0, 1.0, 2.0, 11.0, 12.0)]
    [(True, 0), (False, 0), (False, 0), (True, 2), (False, 0)]
    """

    def __init__(self, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        # key -> [time of the last line written, occurrences left out since]
        self._keys: dict[str, list[float]] = {}
        # key -> the last occurrence left out: (logger, level, msg, args)
        self._last: dict[str, tuple[logging.Logger, int, str, tuple[object, ...]]] = {}

    def check(self, key: str, now: float | None = None) -> tuple[bool, int]:
        """``(log it?, occurrences left out since the last line)`` for one occurrence."""
        if self.interval <= 0:
            return True, 0
        now = self.clock() if now is None else now
        state = self._keys.get(key)
        if state is None or now - state[0] >= self.interval:
            left_out = int(state[1]) if state else 0
            self._keys[key] = [now, 0]
            if len(self._keys) > 10000:  # keys are node names; bound them anyway
                self._keys = {key: self._keys[key]}
                self._last.clear()
            return True, left_out
        state[1] += 1
        return False, 0

    def log(self, logger: logging.Logger, level: int, key: str, msg: str,
            *args: object) -> None:
        """Log ``msg % args`` at ``level`` unless ``key`` was logged less than
        ``interval`` seconds ago; the line says how many were left out in between."""
        if not logger.isEnabledFor(level):
            return
        emit, left_out = self.check(key)
        if emit:
            self._last.pop(key, None)
            if left_out:
                msg += f" (repeated {left_out} times)"
            logger.log(level, msg, *args)
        else:
            self._last[key] = (logger, level, msg, args)

    def flush(self, everything: bool = False) -> None:
        """Write the last occurrence left out of each key whose interval has passed
        (of every key with ``everything``), with how many others were left out before
        it; the interval of each such key starts again."""
        now = self.clock()
        for key, (logger, level, msg, args) in list(self._last.items()):
            state = self._keys.get(key)
            if state and not everything and now - state[0] < self.interval:
                continue
            del self._last[key]
            others = int(state[1]) - 1 if state else 0
            if others:
                msg += f" (repeated {others} times)"
            logger.log(level, msg, *args)
            self._keys[key] = [now, 0]
