"""Waiting for something to become true, the one way the test suites wait.

Servers and daemons do things a little after a request returns (a container update, a
worker starting, a socket closing); a test polls for the condition it expects instead of
sleeping a fixed time, so it is as fast as the machine allows and fails with a message
saying what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.02) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something true, and
    return that value; after ``timeout`` seconds raise ``AssertionError`` naming ``what``.

    >>> wait_for(lambda: [1], what="a non-empty list")
    [1]
    >>> wait_for(lambda: 0, timeout=0.05, what="zero to become true")
    Traceback (most recent call last):
    AssertionError: timed out after 0.05s waiting for zero to become true
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
