"""Settings changed at run time, the same in every forked worker of a server.

A server registers the settings an operator may change without a restart (log level,
timeouts, error-limiting, rate limits) on one :class:`LiveConfig`, made before its workers
fork. An admin request reaches one worker; that worker writes the new values to a page of
anonymous shared memory (``MAP_SHARED``: the same physical page in every worker, as the
proxy's info cache counters) and bumps its sequence number. Every worker calls
:meth:`LiveConfig.refresh` at the start of each request: one ``unpack_from`` when nothing
changed, else it reads the page and applies the values. So a change reaches every worker
before that worker serves its next request.

The page also carries *events* (counters: ``flush_cache``, ``reload_lb``): a worker runs
an event's handler once each time the counter moved since it last looked.

Nothing is written to disk: as in the seed, a live change does not survive a restart (the
configuration file holds the lasting values).

>>> live = LiveConfig()
>>> level = {"value": "INFO"}
>>> live.add("log_level", parse_log_level, lambda: level["value"],
...          lambda v: level.update(value=v))
>>> live.set({"log_level": "debug"})
{'log_level': 'DEBUG'}
>>> level["value"]
'DEBUG'
>>> live.set({"nope": "1"})
Traceback (most recent call last):
...
oiofs.common.exceptions.ConfigError: unknown live setting 'nope' (known: log_level)
"""

from __future__ import annotations

import json
import logging
import mmap
import multiprocessing
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oiofs.common.exceptions import ConfigError

# the page: sequence number (odd while a writer is in the middle), length, JSON state
_HEAD = struct.Struct("=QI")
PAGE_SIZE = 65536

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_log_level(value: Any) -> str:
    """A log level name (any case) as upper case; ``ValueError`` otherwise."""
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return level


def parse_non_negative(value: Any) -> float:
    """A number >= 0; ``ValueError`` otherwise."""
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be a finite number >= 0")
    return number


def parse_positive_int(value: Any) -> int:
    """An integer >= 1; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be an integer >= 1")
    number = int(value)
    if number < 1:
        raise ValueError("must be an integer >= 1")
    return number


def set_logger_level(logger: logging.Logger, level: str) -> None:
    """Set ``level`` on ``logger`` (and on the logger of its name, which the access-line
    writer of the same server shares)."""
    logger.setLevel(level)
    logging.getLogger(logger.name).setLevel(level)


@dataclass
class _Setting:
    parse: Callable[[Any], Any]
    get: Callable[[], Any]
    apply: Callable[[Any], None]


class LiveConfig:
    """Named run-time settings and events shared by a server's forked workers."""

    def __init__(self, size: int = PAGE_SIZE):
        self._page = mmap.mmap(-1, size)
        # the sequence number as an 8-byte cell: one index per request (no unpacking)
        self._seq = memoryview(self._page)[:8].cast("Q")
        # a lock made before the fork is shared by the workers (a POSIX semaphore): two
        # workers never write the page at once; readers never take it (sequence check)
        self._lock = multiprocessing.get_context("fork").Lock()
        self._settings: dict[str, _Setting] = {}
        self._handlers: dict[str, Callable[[], object]] = {}
        self._seen = 0
        self._events_seen: dict[str, int] = {}

    # --- registration (before the fork) -----------------------------------------------

    def add(self, name: str, parse: Callable[[Any], Any], get: Callable[[], Any],
            apply: Callable[[Any], None]) -> None:
        """Register a setting: ``parse`` checks an operator's value (``ValueError``),
        ``get`` reads the current one, ``apply`` puts a parsed one in force."""
        self._settings[name] = _Setting(parse, get, apply)

    def on_event(self, name: str, handler: Callable[[], object]) -> None:
        """Run ``handler`` in every worker each time :meth:`signal` fires ``name``."""
        self._handlers[name] = handler

    @property
    def names(self) -> list[str]:
        """The registered settings, sorted."""
        return sorted(self._settings)

    # --- reading and writing the shared page ------------------------------------------

    def _read_state(self) -> tuple[int, dict[str, Any]]:
        while True:
            seq, length = _HEAD.unpack_from(self._page, 0)
            if seq & 1:
                continue  # a writer is in the middle (a few microseconds)
            data = bytes(self._page[_HEAD.size:_HEAD.size + length])
            if _HEAD.unpack_from(self._page, 0)[0] == seq:
                state: dict[str, Any] = json.loads(data) if length else {}
                return seq, state

    def _write_state(self, state: dict[str, Any]) -> None:
        data = json.dumps(state, sort_keys=True).encode("utf-8")
        if _HEAD.size + len(data) > len(self._page):
            raise ConfigError("live settings do not fit their shared page")
        seq = _HEAD.unpack_from(self._page, 0)[0]
        _HEAD.pack_into(self._page, 0, seq + 1, 0)
        self._page[_HEAD.size:_HEAD.size + len(data)] = data
        _HEAD.pack_into(self._page, 0, seq + 2, len(data))

    def refresh(self) -> None:
        """Apply what another worker changed since this one last looked (cheap if
        nothing did); call it at the start of every request."""
        if self._seq[0] == self._seen:
            return
        seq, state = self._read_state()
        self._apply(state)
        self._seen = seq

    def _apply(self, state: dict[str, Any]) -> None:
        for name, value in state.get("settings", {}).items():
            setting = self._settings.get(name)
            if setting is not None:
                setting.apply(value)
        for name, count in state.get("events", {}).items():
            if self._events_seen.get(name, 0) != count:
                self._events_seen[name] = count
                handler = self._handlers.get(name)
                if handler is not None:
                    handler()

    def values(self) -> dict[str, Any]:
        """Every setting's current value in this worker (after :meth:`refresh`)."""
        self.refresh()
        return {name: self._settings[name].get() for name in self.names}

    def set(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Check every change, then put them in force in every worker; the parsed values.

        ``ConfigError`` (nothing changed) for an unknown name or a bad value.
        """
        parsed = {}
        for name, value in changes.items():
            setting = self._settings.get(name)
            if setting is None:
                raise ConfigError(f"unknown live setting {name!r} (known: "
                                  f"{', '.join(self.names)})")
            try:
                parsed[name] = setting.parse(value)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"live setting {name}: {err}") from None
        self._update(lambda state: state.setdefault("settings", {}).update(parsed))
        return parsed

    def signal(self, event: str) -> None:
        """Fire ``event`` in every worker (this one at once, the others at their next
        request)."""
        def bump(state: dict[str, Any]) -> None:
            events = state.setdefault("events", {})
            events[event] = events.get(event, 0) + 1
        self._update(bump)

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            _seq, state = self._read_state()
            change(state)
            self._write_state(state)
        self.refresh()
