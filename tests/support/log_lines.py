"""A logger stand-in that keeps the formatted messages (a real sink, not a mock of
behaviour), for unit tests of code that takes a logger."""

from __future__ import annotations


class LogLines:
    """Collects every message logged, formatted, in ``lines`` (levels are not kept)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _log(self, msg, *args, **kwargs) -> None:
        self.lines.append(msg % args if args else msg)

    debug = info = warning = error = exception = _log
