"""Timestamps: fixed-width decimal strings that sort as text, with an optional offset.

A timestamp is seconds since the epoch with 10 microsecond resolution, written as
``'%016.5f'`` (``0001700000000.12345``). An *offset* orders several events that share one
client timestamp (an object's data and a later internal rewrite, say); it is written after
an underscore as 16 hex digits and only appears in the *internal* form.

>>> t = Timestamp(1700000000.123456)
>>> t.normal
'1700000000.12346'
>>> Timestamp(t, offset=2).internal
'1700000000.12346_0000000000000002'
>>> Timestamp('1700000000.12346_0000000000000002') > t
True
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import SupportsFloat, SupportsIndex, TypeAlias, cast

from oiofs.common.exceptions import InvalidTimestamp

PRECISION = 1e-5
# The largest value that still fits the fixed width of 16 characters.
MAX_SECONDS = 9999999999.99999

#: What :class:`Timestamp` reads: a Timestamp, its text (or bytes) form, a number of seconds,
#: or ``None`` for now.
TimestampValue: TypeAlias = (
    "Timestamp | str | bytes | bytearray | SupportsFloat | SupportsIndex | None")


@functools.lru_cache(maxsize=64)
def _http_date(seconds: int) -> str:
    """The RFC 7231 date of a whole second, remembered: a busy proxy answers every PUT of
    one second with the same ``Last-Modified``, and ``formatdate`` costs several us."""
    return formatdate(seconds, usegmt=True)


@functools.total_ordering
class Timestamp:
    """An immutable point in time with 10 us resolution and an integer offset."""

    __slots__ = ("raw", "offset")
    raw: int
    offset: int

    def __init__(self, value: TimestampValue = None, offset: int = 0, delta: int = 0):
        """Read ``value`` (a float, int, str in normal/internal form, or Timestamp).

        ``delta`` adds that many 10 us ticks. Raises :class:`InvalidTimestamp` for values
        that are not numbers, negative, or too large for the fixed width.
        """
        if value is None:
            value = time.time()
        base_offset = 0
        if isinstance(value, Timestamp):
            raw, base_offset = value.raw, value.offset
        else:
            if isinstance(value, (bytes, bytearray)):
                value = value.decode("ascii", "replace")
            if isinstance(value, str):
                text = value.strip()
                if "_" in text:
                    text, _, off = text.partition("_")
                    try:
                        base_offset = int(off, 16)
                    except ValueError:
                        raise InvalidTimestamp(f"invalid timestamp offset {value!r}") from None
                try:
                    number = float(text)
                except ValueError:
                    raise InvalidTimestamp(f"invalid timestamp {value!r}") from None
            else:
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise InvalidTimestamp(f"invalid timestamp {value!r}") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise InvalidTimestamp(f"invalid timestamp {value!r}")
            raw = int(round(number / PRECISION))
        raw += delta
        offset = base_offset + offset
        if raw < 0:
            raise InvalidTimestamp(f"timestamp before the epoch: {value!r}")
        if raw * PRECISION > MAX_SECONDS:
            raise InvalidTimestamp(f"timestamp too large: {value!r}")
        if offset < 0 or offset >= 1 << 64:
            raise InvalidTimestamp(f"invalid timestamp offset {offset!r}")
        self.raw = raw
        self.offset = offset

    @classmethod
    def now(cls, offset: int = 0) -> Timestamp:
        """The current time."""
        return cls(time.time(), offset=offset)

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch as a float."""
        return self.raw * PRECISION

    def __float__(self) -> float:
        return self.timestamp

    def __int__(self) -> int:
        return int(self.timestamp)

    @property
    def normal(self) -> str:
        """The fixed-width form without offset, as clients see it in ``X-Timestamp``."""
        return "%016.5f" % (self.raw * PRECISION)

    @property
    def internal(self) -> str:
        """The form used in file names and databases: normal, plus ``_<offset>`` if any."""
        if self.offset:
            return "%s_%016x" % (self.normal, self.offset)
        return self.normal

    @property
    def isoformat(self) -> str:
        """ISO 8601 with microseconds, UTC, no zone suffix (as container listings show)."""
        dt = datetime.fromtimestamp(self.raw * PRECISION, tz=UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")

    @property
    def http_date(self) -> str:
        """RFC 7231 date rounded up to the next second (for ``Last-Modified``)."""
        return _http_date(-(-self.raw // 100000))  # ceil: never before the write

    @property
    def ceil_seconds(self) -> int:
        """Whole seconds, rounded up (HTTP dates have second resolution)."""
        return -(-self.raw // 100000)

    def __str__(self) -> str:
        return self.internal

    def __repr__(self) -> str:
        return f"Timestamp({self.internal!r})"

    def _key(self) -> tuple[int, int]:
        return (self.raw, self.offset)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timestamp):
            try:
                # Any value is tried: Timestamp() raises InvalidTimestamp for what it cannot
                # read (caught here), so the cast only lets mypy pass it through.
                other = Timestamp(cast(TimestampValue, other))
            except InvalidTimestamp:
                return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: TimestampValue) -> bool:
        if not isinstance(other, Timestamp):
            other = Timestamp(other)
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __bool__(self) -> bool:
        return bool(self.raw or self.offset)


def normalize_timestamp(value: TimestampValue) -> str:
    """The normal form of any accepted timestamp value."""
    return Timestamp(value).normal


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch of an HTTP date, or ``None`` if it is not one."""
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def last_modified_date_to_timestamp(value: str) -> Timestamp:
    """Timestamp of a container listing's ``last_modified`` (``2024-01-02T03:04:05.123456``)."""
    dt = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return Timestamp(dt.timestamp())
