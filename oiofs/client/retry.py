"""Sans-IO retry policy: which failures are retried, and how long to wait before each try.

A request is retried only when sending it again cannot do harm: its method is idempotent
in the Swift API and its body (if any) can be sent again from the start. What is retried:
failures to connect or a connection broken before the answer (``TransportError``), and
the statuses in ``retry_statuses`` (500, 502, 503, 504 by default). 4xx answers are the
caller's to handle and are never retried (401 is handled apart: one re-authentication).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

#: Methods whose repetition leaves the same state as one success. POST is among them in
#: the Swift API: it *replaces* metadata. COPY writes the same destination again.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "COPY"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``retries`` is the number of *extra* attempts (0 disables retrying). The wait before
    retry ``n`` (1-based) is ``min(backoff_max, backoff_initial * backoff_factor**(n-1))``
    plus up to ``jitter`` of it at random, so that many clients do not retry in step.

    >>> policy = RetryPolicy(retries=3, backoff_initial=0.5, jitter=0)
    >>> [policy.delay(n) for n in (1, 2, 3)]
    [0.5, 1.0, 2.0]
    """

    retries: int = 5
    backoff_initial: float = 0.25
    backoff_factor: float = 2.0
    backoff_max: float = 10.0
    jitter: float = 0.1
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({500, 502, 503, 504}))
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_initial < 0 or self.backoff_max < 0:
            raise ValueError("retries and backoff times must not be negative")
        if self.backoff_factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff_factor must be >= 1 and jitter in [0, 1]")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        base = min(self.backoff_max, self.backoff_initial * self.backoff_factor ** (retry - 1))
        return base + base * self.jitter * self.rand()

    def may_retry(self, method: str, retry: int, replayable: bool = True) -> bool:
        """Whether retry number ``retry`` of a ``method`` request is allowed at all."""
        return (retry <= self.retries and replayable
                and method.upper() in IDEMPOTENT_METHODS)

    def retry_status(self, method: str, status: int, retry: int,
                     replayable: bool = True) -> bool:
        """Whether an answer with ``status`` should be retried (``retry`` would be next)."""
        return status in self.retry_statuses and self.may_retry(method, retry, replayable)


#: A policy that never retries (``Connection(retry=NO_RETRY)``; the bench uses it so that
#: every failure is counted).
NO_RETRY = RetryPolicy(retries=0)
