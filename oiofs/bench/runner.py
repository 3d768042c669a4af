"""Run one operation over many items with a pool of worker threads, bounded in count and time.

Each worker thread uses its own :class:`~oiofs.bench.client.BenchClient` over the shared
library connection (its keep-alive connections live across phases) and pulls items from
a shared source until it runs dry or the deadline passes. An operation raises
:class:`~oiofs.bench.errors.UnexpectedStatus` or a transport error for a failed request
and :class:`~oiofs.bench.errors.VerificationFailed` for a wrong answer; anything else it
raises is a bug and stops the run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from oiofs.bench.client import BenchClient
from oiofs.bench.cpu import CpuMeter
from oiofs.bench.errors import UnexpectedStatus, VerificationFailed
from oiofs.bench.stats import PhaseResult
from oiofs.client import ClientError

T = TypeVar("T")

# What an operation returns: bytes it moved (0 when the phase is about requests).
Operation = Callable[[BenchClient, T], int]


class _Source:
    """Items handed out one at a time to the workers, under a lock."""

    def __init__(self, items: Iterable, limit: int | None, deadline: float | None):
        iterator: Iterator = iter(items)
        self._items = itertools.islice(iterator, limit) if limit is not None else iterator
        self._deadline = deadline
        self._lock = threading.Lock()
        self._stopped = False
        self._entered: list[threading.Event] = []

    def enter(self, done: threading.Event) -> None:
        """A worker announces itself (with the event it sets when it ends) before taking
        any item, so an interrupted run knows whom to wait for."""
        with self._lock:
            self._entered.append(done)

    def stop(self) -> list[threading.Event]:
        """Hand out nothing more; the end events of the workers that may be mid-request."""
        with self._lock:
            self._stopped = True
            return list(self._entered)

    def take(self):
        """The next item, or a sentinel :data:`_DONE` when the items or the time ran out."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return _DONE
        with self._lock:
            return _DONE if self._stopped else next(self._items, _DONE)


_DONE = object()


def _work(conn: BenchClient, source: _Source, op: Operation, out: PhaseResult,
          crashes: list[BaseException], done: threading.Event) -> None:
    source.enter(done)
    try:
        while (item := source.take()) is not _DONE:
            start = time.perf_counter()
            try:
                moved = op(conn, item)
            except VerificationFailed as err:
                out.failures += 1
                out.note(f"{out.name} {item}: {err}")
            except (UnexpectedStatus, ClientError) as err:
                out.errors += 1
                out.note(f"{out.name} {item}: {type(err).__name__}: {err}")
            else:
                out.latencies.append(time.perf_counter() - start)
                out.ops += 1
                out.nbytes += moved
    except BaseException as err:  # a bug in an operation: stop this run loudly
        crashes.append(err)
    finally:
        done.set()


def run_phase(name: str, conns: list[BenchClient], items: Iterable[T], op: Operation,
              limit: int | None = None, duration: float | None = None,
              meter: CpuMeter | None = None, label: str = "") -> PhaseResult:
    """Apply ``op`` to up to ``limit`` items with one thread per connection, for at most
    ``duration`` seconds (no new request starts after it); the merged result.

    The deadline is checked before each request, so a phase ends at most one request
    latency after ``duration``. If the wait is interrupted (``KeyboardInterrupt``), the
    workers stop after their current request and the interruption is re-raised.
    """
    result = PhaseResult(name=name, label=label)
    cpu_before = meter.sample() if meter else None
    start = time.monotonic()
    source = _Source(items, limit, start + duration if duration else None)
    parts = [PhaseResult(name=name) for _ in conns]
    crashes: list[BaseException] = []
    # Completion is signalled with events rather than observed with Thread.join: in Python
    # 3.11 a Ctrl-C that interrupts join() can mark a still-running thread as stopped.
    done = [threading.Event() for _ in conns]
    threads = [threading.Thread(target=_work, args=(conn, source, op, part, crashes, event),
                                name=f"bench-{name}-{n}", daemon=True)
               for n, (conn, part, event) in enumerate(zip(conns, parts, done, strict=True))]
    try:
        for thread in threads:
            thread.start()
        for event in done:
            # A bounded wait wakes the main thread now and then, so a Ctrl-C delivered
            # while it waits is acted on promptly.
            while not event.wait(0.5):
                pass
    except BaseException:
        # Ctrl-C lands here, in the main thread: let the workers finish their request and
        # release their connections before cleanup reuses them.
        for event in source.stop():
            event.wait()
        raise
    result.elapsed = time.monotonic() - start
    if meter is not None and cpu_before is not None:
        result.cpu_seconds = meter.sample() - cpu_before
    if crashes:
        raise crashes[0]
    for part in parts:
        result.merge(part)
    return result
