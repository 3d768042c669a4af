"""Fair shares: how many bases each service should hold under placement caps.

Services sit in a tree of locations (region, zone, host, device, then the service). Each
node may be capped: a node at the level where replicas must differ (``min_dist``) can
hold at most one replica of each base, so at most ``bases`` replicas; a service too. The
total (bases x replicas) is split among children in proportion to how many services
they hold, except that a child never gets more than it can hold (its cap, or what its
own children can hold): what it cannot take is shared among the others ("water
filling"). Every service then has a real-valued target; a balanced mapping keeps each
service within one base of it.

>>> shares({"a": ("", "", "h1", "d1"), "b": ("", "", "h1", "d2"), "c": ("", "", "h2", "d1")},
...        total=4, caps={2: 2}, leaf_cap=2)
{'a': 1.0, 'b': 1.0, 'c': 2.0}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oiofs.directory.meta0_errors import Meta0PlacementError


class _Node:
    __slots__ = ("cap", "children", "leaves", "room", "service")

    def __init__(self, cap: float, service: str | None = None):
        self.cap = cap
        self.service = service
        self.children: dict[Any, _Node] = {}
        self.leaves = 0
        self.room = 0.0


def _room(node: _Node) -> float:
    """What the subtree can hold; sets ``leaves`` and ``room`` on every node."""
    if node.service is not None:
        node.leaves, node.room = 1, node.cap
        return node.room
    node.room = min(node.cap, sum(_room(child) for child in node.children.values()))
    node.leaves = sum(child.leaves for child in node.children.values())
    return node.room


def _allot(node: _Node, amount: float, out: dict[str, float]) -> None:
    if node.service is not None:
        out[node.service] = amount
        return
    active = sorted(node.children.values(), key=lambda c: c.room / c.leaves)
    remaining = amount
    leaves = sum(child.leaves for child in active)
    for index, child in enumerate(active):
        # Children sorted by room per service: once one can take its proportional
        # share, every later one can too.
        share = remaining * child.leaves / leaves if leaves else 0.0
        if child.room < share:
            share = child.room
        _allot(child, share, out)
        remaining -= share
        leaves -= child.leaves
        if index == len(active) - 1:
            break


def shares(locations: Mapping[str, tuple[str, ...]], total: float,
           caps: Mapping[int, float], leaf_cap: float) -> dict[str, float]:
    """Target count per service id. ``caps`` maps a level index (0 region .. 3 device) to
    the most a slice of that level may hold; ``leaf_cap`` is a service's own limit.

    Raises :class:`Meta0PlacementError` when the services cannot hold ``total`` at all.
    """
    root = _Node(float("inf"))
    for service, loc in locations.items():
        node = root
        for depth, token in enumerate(loc):
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node(caps.get(depth, float("inf")))
            node = child
        node.children[service] = _Node(leaf_cap, service)
    room = _room(root) if locations else 0.0
    if room + 1e-9 < total:
        raise Meta0PlacementError(
            f"the services can hold {room:g} replicas under the placement constraints, "
            f"{total:g} are needed: add services or locations, or lower min_dist")
    out: dict[str, float] = {}
    if locations:
        _allot(root, float(total), out)
    return out
