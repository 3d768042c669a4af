"""Meta0 prefixes and bases: names, counts and which prefixes share a base.

A *prefix* is four upper-case hex digits, ``"0000"`` to ``"FFFF"``: the first 16 bits of a
name's hash. A mapping with ``digits`` significant digits groups prefixes into
``16 ** digits`` *bases*; a base is named by its first ``digits`` digits padded with ``0``
(with ``digits=2``, prefixes ``AB00`` to ``ABFF`` all live in base ``AB00``). A base is
exactly one partition of a ring of part power ``4 * digits``: the base's short prefix read
as a hex number is the partition.

>>> count_prefixes(2)
256
>>> list(generate_short_prefixes(1))[:3]
['0', '1', '2']
>>> prefix_to_base("abcd", 2)
'AB00'
>>> base_to_partition("AB00", 2)
171
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from oiofs.directory.meta0_errors import Meta0Error

#: Hex digits of a full prefix (a meta0 table always has ``16 ** PREFIX_DIGITS`` rows).
PREFIX_DIGITS = 4
HEX = "0123456789ABCDEF"
_PREFIX = re.compile(r"^[0-9A-Fa-f]{4}$")


def check_digits(digits: object) -> int:
    """``digits`` as an int in 0..4, else :class:`Meta0Error`."""
    if isinstance(digits, bool) or not isinstance(digits, int) \
            or not 0 <= digits <= PREFIX_DIGITS:
        raise Meta0Error(f"invalid digits {digits!r}: expected an integer from 0 to 4")
    return digits


def count_prefixes(digits: int) -> int:
    """How many bases a mapping of ``digits`` digits has (``16 ** digits``).

    Raises :class:`Meta0Error` for a digit count outside 0..4.
    """
    return 16 ** check_digits(digits)


def generate_short_prefixes(digits: int) -> Iterator[str]:
    """Every ``digits``-long hex string in ascending order (just ``""`` for 0 digits)."""
    return ("".join(chars) for chars in itertools.product(HEX, repeat=check_digits(digits)))


def generate_prefixes(digits: int) -> Iterator[str]:
    """The name of every base of a ``digits`` mapping, ascending: short prefixes padded
    with ``0`` to four digits (all 65,536 prefixes when ``digits`` is 4)."""
    return (short.ljust(PREFIX_DIGITS, "0") for short in generate_short_prefixes(digits))


def normalize_prefix(pfx: object) -> str:
    """A full prefix in upper case; :class:`Meta0Error` if it is not four hex digits."""
    if not isinstance(pfx, str) or not _PREFIX.match(pfx):
        raise Meta0Error(f"invalid prefix {pfx!r}: expected four hex digits")
    return pfx.upper()


def prefix_to_base(pfx: str, digits: int) -> str:
    """The base holding prefix ``pfx``: its first ``digits`` digits, padded with ``0``."""
    return normalize_prefix(pfx)[:check_digits(digits)].ljust(PREFIX_DIGITS, "0")


def prefix_siblings(pfx: str, digits: int) -> list[str]:
    """Every prefix sharing ``pfx``'s base, ascending (``pfx`` itself included)."""
    short = normalize_prefix(pfx)[:check_digits(digits)]
    return [short + tail for tail in generate_short_prefixes(PREFIX_DIGITS - digits)]


def base_to_partition(base: str, digits: int) -> int:
    """The ring partition (part power ``4 * digits``) a base is."""
    short = prefix_to_base(base, digits)[:digits]
    return int(short, 16) if short else 0


def partition_to_base(part: int, digits: int) -> str:
    """The base a ring partition of part power ``4 * digits`` is."""
    if not 0 <= part < count_prefixes(digits):
        raise Meta0Error(f"partition {part} is out of range for {digits} digits")
    short = f"{part:0{digits}X}" if digits else ""
    return short.ljust(PREFIX_DIGITS, "0")
