"""What a benchmark run does: :class:`BenchConfig` and the size parser for its options."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"": 1, "b": 1,
          "k": 1024, "kib": 1024, "m": 1024 ** 2, "mib": 1024 ** 2, "g": 1024 ** 3,
          "gib": 1024 ** 3,
          "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in ``text``: ``4096``, ``4K``/``4KiB`` (binary) or ``4KB`` (decimal).

    >>> parse_size("64MiB"), parse_size("4k"), parse_size("1MB")
    (67108864, 4096, 1000000)
    """
    match = _SIZE.match(text)
    unit = match and _UNITS.get(match.group(2).lower())
    if not match or unit is None:
        raise ValueError(f"not a size: {text!r} (e.g. 4096, 4KiB, 64MiB, 1MB)")
    return int(float(match.group(1)) * unit)


def format_size(size: int) -> str:
    """A short binary-unit label for a byte count (``4 KiB``, ``64 MiB``, ``300 B``)."""
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


@dataclass
class BenchConfig:
    """Every knob of one run; the CLI fills it from its options.

    ``objects`` and ``duration`` bound each small-object phase (at most ``objects``
    requests, stopping early after ``duration`` seconds); with no ``objects``, GET and HEAD
    go round the stored objects until ``duration`` is up.
    """

    auth_url: str
    user: str
    key: str
    concurrency: int = 16
    size: int = 4096
    objects: int | None = 1000
    duration: float | None = None
    large_size: int = 64 * 1024 * 1024
    large_count: int = 4
    list_objects: int = 10_000
    list_page: int = 10_000
    skip_small: bool = False
    skip_large: bool = False
    skip_list: bool = False
    timeout: float = 60.0
    #: ``X-Storage-Policy`` of the run's containers (``None``: the cluster's default)
    storage_policy: str | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` for a combination that cannot run."""
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.objects is None and self.duration is None:
            raise ValueError("give --objects, --duration or both")
        if self.objects is not None and self.objects < 1:
            raise ValueError("--objects must be at least 1")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("--duration must be positive")
        if self.size < 0 or self.size > 1024 * 1024:
            raise ValueError("--size must be between 0 and 1 MiB")
        if self.large_size < 1 or self.large_count < 1:
            raise ValueError("--large-size and --large-count must be positive")
        if self.list_objects < 1 or self.list_page < 1:
            raise ValueError("--list-objects and --list-page must be positive")
