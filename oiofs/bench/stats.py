"""Percentiles and the result of one benchmark phase."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_MESSAGES = 5


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0 < q <= 100) of ascending values, by nearest rank.

    Nearest rank always returns a value that was measured; ``None`` for no values.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99)
    (2, 4)
    """
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {q}")
    if not sorted_values:
        return None
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


@dataclass
class PhaseResult:
    """What one phase measured.

    ``ops`` counts requests that succeeded and verified; ``errors`` counts requests that
    failed (transport error or unexpected status); ``failures`` counts answers that were
    wrong (MD5, length, ETag, listing). Rates divide ``ops`` (or ``nbytes``) by the wall
    time of the phase, from its first request to the end of its last.
    """

    name: str
    label: str = ""
    ops: int = 0
    errors: int = 0
    failures: int = 0
    elapsed: float = 0.0
    nbytes: int = 0
    cpu_seconds: float | None = None
    latencies: list[float] = field(default_factory=list, repr=False)
    messages: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def note(self, message: str) -> None:
        """Keep the first few error or failure messages for the report."""
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    @property
    def rate(self) -> float | None:
        """Successful requests per second."""
        return self.ops / self.elapsed if self.elapsed > 0 else None

    @property
    def mb_per_s(self) -> float | None:
        """Megabytes (10**6 bytes) moved per second, for phases that move bytes."""
        if not self.nbytes or self.elapsed <= 0:
            return None
        return self.nbytes / 1e6 / self.elapsed

    def latency_ms(self, q: float) -> float | None:
        """A percentile of the successful requests' latencies, in milliseconds."""
        value = percentile(sorted(self.latencies), q)
        return None if value is None else value * 1000

    @property
    def cpu_ms_per_op(self) -> float | None:
        """Server CPU milliseconds per successful request (when CPU was measured)."""
        if self.cpu_seconds is None or not self.ops:
            return None
        return self.cpu_seconds * 1000 / self.ops

    def merge(self, other: PhaseResult) -> None:
        """Add the counts, bytes, latencies and messages of a worker's partial result."""
        self.ops += other.ops
        self.errors += other.errors
        self.failures += other.failures
        self.nbytes += other.nbytes
        self.latencies.extend(other.latencies)
        for message in other.messages:
            self.note(message)

    def to_dict(self) -> dict:
        """A JSON-ready summary (latencies reduced to percentiles)."""
        def rounded(value, digits=3):
            return None if value is None else round(value, digits)
        return {"name": self.name, "label": self.label, "ops": self.ops,
                "errors": self.errors, "failures": self.failures,
                "elapsed_s": rounded(self.elapsed, 4), "bytes": self.nbytes,
                "req_per_s": rounded(self.rate, 2), "mb_per_s": rounded(self.mb_per_s, 2),
                "p50_ms": rounded(self.latency_ms(50)), "p99_ms": rounded(self.latency_ms(99)),
                "cpu_ms_per_op": rounded(self.cpu_ms_per_op), "messages": self.messages,
                **self.extra}
