"""How many writer workers a caching store runs: the seed's adaptive rule, made explicit.

Small files are latency-bound: each upload is mostly a round trip, so throughput grows with
the number of uploads in flight, and every allowed writer is used. Big files are
bandwidth-bound: a few parallel uploads fill the link, and more only multiply the memory,
sockets and disk reads in flight, so the count falls as the average file grows. The
average upload time tells which case holds: an upload that takes long at a low rate is
latency-bound whatever its size.
"""

from __future__ import annotations

import math
import threading

SMALL_FILE = 1_000_000     # bytes: below this a file counts as small (as in the seed)
SLOW_UPLOAD = 0.5          # seconds: an upload this long at a low rate is latency-bound
WINDOW = 50                # uploads in the moving averages


def writer_count(max_writer_threads: int, avg_size: float, avg_seconds: float) -> int:
    """The number of writers to run for uploads of ``avg_size`` bytes taking ``avg_seconds``.

    >>> writer_count(8, 10_000, 0.01)
    8
    >>> writer_count(8, 64_000_000, 2.0)
    2
    """
    if max_writer_threads <= 1 or avg_size <= SMALL_FILE:
        return max(1, max_writer_threads)
    rate = avg_size / avg_seconds if avg_seconds > 0 else float("inf")
    if avg_seconds >= SLOW_UPLOAD and rate < SMALL_FILE:
        return max_writer_threads
    # Bandwidth-bound: about one writer per ~8 MB of average file, at least two.
    wanted = math.ceil(max_writer_threads * 8 * SMALL_FILE / avg_size)
    return max(min(2, max_writer_threads), min(max_writer_threads, wanted))


class UploadAverages:
    """Moving averages of upload sizes and durations over the last ``WINDOW`` uploads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[tuple[int, float]] = []

    def add(self, size: int, seconds: float) -> None:
        with self._lock:
            self._samples = (self._samples + [(size, seconds)])[-WINDOW:]

    def averages(self) -> tuple[float, float]:
        """(average size in bytes, average seconds); (0, 0) before the first upload."""
        with self._lock:
            if not self._samples:
                return 0.0, 0.0
            n = len(self._samples)
            return (sum(s for s, _ in self._samples) / n,
                    sum(t for _, t in self._samples) / n)
