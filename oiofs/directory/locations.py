"""Service locations: ``region.zone.host.device`` tags, slices and distances.

A service's location comes from its ``tag.loc`` tag (or a ``location`` key), four tokens
separated by dots, widest first. A shorter location is padded on the left with empty
tokens (``"host1.sdb"`` is in the unnamed region and zone); a service without one is
alone at the device level, named by its address.

The *distance* between two locations is how many levels, counted from the device up,
they differ by: 0 for the same device, 1 for two devices of a host, 2 for two hosts of
a zone, 3 for two zones of a region, 4 for two regions.

>>> dist_between("r1.z1.h1.sdb", "r1.z1.h2.sdb")
2
>>> slice_of(parse_location("r1.z2.h3.sdb"), level_index("zone"))
('r1', 'z2')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from oiofs.directory.meta0_errors import Meta0Error

#: A parsed location: four tokens, widest first.
Location: TypeAlias = tuple[str, str, str, str]
LEVELS = ("region", "zone", "host", "device")
#: Level names, with the seed's synonyms (site, rack, volume).
_LEVEL_NAMES = {"region": 0, "site": 0, "zone": 1, "rack": 1, "host": 2, "device": 3,
                "volume": 3}


def level_index(level: str | int) -> int:
    """0 (region) to 3 (device) for a level name or index; :class:`Meta0Error` otherwise."""
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level < len(LEVELS):
        return level
    if isinstance(level, str) and level.lower() in _LEVEL_NAMES:
        return _LEVEL_NAMES[level.lower()]
    raise Meta0Error(f"unknown location level {level!r}: expected one of "
                     f"{', '.join(_LEVEL_NAMES)} or 0-3")


def parse_location(text: str) -> Location:
    """Split ``region.zone.host.device``; fewer tokens are padded on the left."""
    tokens = text.split(".")
    if len(tokens) > len(LEVELS) or not all(tokens[-1:]):
        raise Meta0Error(f"invalid location {text!r}: expected region.zone.host.device")
    padded = [""] * (len(LEVELS) - len(tokens)) + tokens
    return (padded[0], padded[1], padded[2], padded[3])


def service_location(svc: Mapping[str, Any]) -> str | None:
    """The location a service description carries, if any."""
    tags = svc.get("tags") or {}
    loc = tags.get("tag.loc") if isinstance(tags, Mapping) else None
    loc = loc or svc.get("location")
    return str(loc) if loc else None


def dist_between(loc1: str | Sequence[str], loc2: str | Sequence[str]) -> int:
    """How many levels, from the device up, two locations differ by (0 when equal)."""
    a = parse_location(loc1) if isinstance(loc1, str) else tuple(loc1)
    b = parse_location(loc2) if isinstance(loc2, str) else tuple(loc2)
    for depth, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            return len(LEVELS) - depth
    return 0


def slice_of(loc: Location, level: int) -> tuple[str, ...]:
    """The location slice at ``level``: the tokens down to and including that level."""
    return loc[:level + 1]
