"""Where replicas go: targets from weights, dispersion limits, and the moves of a rebalance.

The rules, in order of priority:

1. **Forced moves.** Replicas on removed devices (or on no device yet) are placed, whatever
   ``min_part_hours`` says: those copies are gone or never existed.
2. **Dispersion.** Each partition's replicas are spread over failure domains -- regions,
   then zones, then hosts (``ip:port``), then devices. A domain's *share* is the number of
   replicas per partition its weight earns (``replicas * weight / total``, after capping
   each device at one replica per partition when there are enough devices); a partition
   may hold at most ``ceil(share)`` replicas in that domain. So with equal weights and at
   least as many zones as replicas, no two replicas share a zone; when weights and spread
   disagree (one zone holding most of the weight) the weights win, and
   :func:`dispersion_report` shows the cost.
3. **Balance.** Each device should hold ``share * partitions`` replicas. A replica moves from
   a device above its target to one below only when that brings both closer to target, so a
   ring that is balanced moves nothing.
4. **Few moves.** Besides forced moves, at most one replica of a partition moves per
   rebalance, and a partition moved less than ``min_part_hours`` ago does not move; both
   keep a majority of each partition's copies where they were while data is copied.

Everything is deterministic for a given random seed.
"""

from __future__ import annotations

import math
import random
from bisect import insort
from collections.abc import Hashable, Mapping
from typing import TypeAlias, TypeVar

from oiofs.common.ring.devices import TIER_NAMES, Device, Tier, tiers_of
from oiofs.common.ring.ringdata import PartTable

NONE = 0xFFFF  # "no device" in a replica table
_EPSILON = 1e-6
# A placement picks at random among up to _PICK_WIDTH fitting devices whose deviation from
# target is within _PICK_SLACK replicas of the neediest one's.
_PICK_SLACK = 1.0
_PICK_WIDTH = 8

_Key = TypeVar("_Key", bound=Hashable)
#: An active device's place in :attr:`Placer.order`: (replicas - target, rank, id).
_OrderKey: TypeAlias = tuple[float, int, int]


def water_fill(amount: float, weights: Mapping[_Key, float],
               caps: Mapping[_Key, float]) -> dict[_Key, float]:
    """Share ``amount`` in proportion to ``weights``, no key getting more than its cap.

    What a capped key cannot take goes to the others, in proportion to their weights.
    """
    shares: dict[_Key, float] = {}
    pool = {key: weight for key, weight in weights.items() if weight > 0}
    remaining = float(amount)
    while pool:
        total = sum(pool.values())
        over = [key for key, weight in pool.items()
                if remaining * weight / total > caps[key] + _EPSILON]
        if not over:
            for key, weight in pool.items():
                shares[key] = remaining * weight / total
            break
        for key in over:
            shares[key] = caps[key]
            remaining -= caps[key]
            del pool[key]
    for key in weights:
        shares.setdefault(key, 0.0)
    return shares


def _ceil(value: float) -> int:
    return max(0, math.ceil(value - _EPSILON))


class Topology:
    """Failure domains of the devices in play, with each domain's share and limit.

    ``active`` are the devices that receive replicas (weight > 0, not being removed);
    ``holding`` are other devices that may still hold replicas (being drained).
    """

    def __init__(self, active: list[Device], holding: list[Device], replicas: int,
                 partitions: int):
        self.replicas = replicas
        self.partitions = partitions
        per_dev_cap = max(1.0, replicas / len(active)) if active else 1.0
        dev_shares = water_fill(replicas, {d["id"]: d["weight"] for d in active},
                                {d["id"]: per_dev_cap for d in active})
        #: tier tuple -> index; per index its share and its per-partition limit.
        self.tier_index: dict[Tier, int] = {}
        self.tier_share: list[float] = []
        self.tier_level: list[int] = []
        #: dev id -> tuple of its four tier indexes (region, zone, host, device).
        self.dev_tiers: dict[int, tuple[int, ...]] = {}
        for dev in active + holding:
            indexes = []
            for level, tier in enumerate(tiers_of(dev)):
                index = self.tier_index.get(tier)
                if index is None:
                    index = self.tier_index[tier] = len(self.tier_share)
                    self.tier_share.append(0.0)
                    self.tier_level.append(level)
                self.tier_share[index] += dev_shares.get(dev["id"], 0.0)
                indexes.append(index)
            self.dev_tiers[dev["id"]] = tuple(indexes)
        self.caps = [_ceil(share) for share in self.tier_share]
        # A domain whose share reaches a whole replica must hold at least that many of
        # each partition (two zones, three replicas: never all three in one zone). Kept
        # per level, for the few domains concerned.
        floors = [max(0, math.floor(share + _EPSILON)) for share in self.tier_share]
        self.floor_levels: list[tuple[int, list[tuple[int, int]]]] = []
        for level in range(len(TIER_NAMES)):
            # A domain holding every replica (the only region) needs no check.
            floored = [(tier, floor) for tier, floor in enumerate(floors)
                       if 0 < floor < replicas and self.tier_level[tier] == level]
            if floored:
                self.floor_levels.append((level, floored))
        #: dev id -> replicas it should hold (fractional); 0 for devices being drained.
        self.targets: dict[int, float] = {dev["id"]: dev_shares.get(dev["id"], 0.0) * partitions
                        for dev in active + holding}
        self.active_ids: list[int] = [dev["id"] for dev in active]


class Placer:
    """One rebalance: mutates ``tables`` in place and records what moved.

    ``last_move`` holds, per partition, the minute (since the epoch) of its last move;
    ``min_part_minutes`` the quiet time after a move; ``now`` the current minute.
    """

    def __init__(self, tables: list[PartTable], topology: Topology, last_move: PartTable,
                 now: int, min_part_minutes: int, rng: random.Random):
        self.tables = tables
        self.topo = topology
        self.last_move = last_move
        self.now = now
        self.min_part_minutes = min_part_minutes
        self.rng = rng
        self.partitions = topology.partitions
        self.dev_tiers = topology.dev_tiers
        self.caps = topology.caps
        self.floor_levels = topology.floor_levels
        self.replicas = topology.replicas
        self.targets = topology.targets
        self.active = set(topology.active_ids)
        self.counts = dict.fromkeys(self.dev_tiers, 0)
        for table in tables:
            for dev_id in table:
                if dev_id in self.counts:
                    self.counts[dev_id] += 1
        ranks = list(topology.active_ids)
        rng.shuffle(ranks)
        self.rank = {dev_id: pos for pos, dev_id in enumerate(ranks)}
        #: active devices by (replicas - target, rank): the neediest first.
        self.order = sorted(self._key(dev_id) for dev_id in topology.active_ids)
        #: partition -> bit mask of the replicas placed during this rebalance.
        self.placed = bytearray(self.partitions) if len(tables) <= 8 else None
        self._placed_wide: dict[int, int] = {}

    # --- bookkeeping ----------------------------------------------------------------

    def _key(self, dev_id: int) -> _OrderKey:
        return (self.counts[dev_id] - self.targets[dev_id], self.rank[dev_id], dev_id)

    def _count(self, dev_id: int, delta: int) -> None:
        if dev_id in self.rank:
            self.order.remove(self._key(dev_id))
            self.counts[dev_id] += delta
            insort(self.order, self._key(dev_id))
        elif dev_id in self.counts:
            self.counts[dev_id] += delta

    def _placed_mask(self, part: int) -> int:
        if self.placed is not None:
            return self.placed[part]
        return self._placed_wide.get(part, 0)

    def _mark(self, part: int, replica: int) -> None:
        if self.placed is not None:
            self.placed[part] |= 1 << replica
        else:
            self._placed_wide[part] = self._placed_wide.get(part, 0) | 1 << replica

    def _set(self, part: int, replica: int, dev_id: int) -> None:
        old = self.tables[replica][part]
        if old != NONE:
            self._count(old, -1)
        self.tables[replica][part] = dev_id
        self._count(dev_id, 1)
        self._mark(part, replica)

    def movable(self, part: int, replica: int) -> bool:
        """May replica ``replica`` of ``part`` move now without breaking rule 4?"""
        mask = self._placed_mask(part)
        if mask:
            # Moving again a replica already moved in this rebalance costs nothing more;
            # moving a second one would leave fewer old copies in place.
            return bool(mask >> replica & 1)
        return self.now - self.last_move[part] >= self.min_part_minutes

    def _used(self, part: int, skip: int) -> list[int]:
        """Tier indexes of the replicas of ``part`` other than ``skip``."""
        used: list[int] = []
        for replica, table in enumerate(self.tables):
            dev_id = table[part]
            if replica != skip and dev_id != NONE:
                used.extend(self.dev_tiers[dev_id])
        return used

    def _fits(self, dev_id: int, used: list[int]) -> bool:
        """May ``dev_id`` hold one more replica of a partition whose others use ``used``?

        Its domains must stay within their limits, and enough replicas must be left to
        give every domain its minimum (all of them when the partition becomes full).
        """
        caps = self.caps
        tiers = self.dev_tiers[dev_id]
        for tier in tiers:
            if used.count(tier) >= caps[tier]:
                return False
        if self.floor_levels:
            left = self.replicas - len(used) // len(tiers) - 1
            for level, floored in self.floor_levels:
                mine = tiers[level]
                deficit = 0
                for tier, floor in floored:
                    have = used.count(tier) + (tier == mine)
                    if have < floor:
                        deficit += floor - have
                if deficit > left:
                    return False
        return True

    # --- choices --------------------------------------------------------------------

    def _best_fit(self, used: list[int]) -> int:
        """One of the neediest active devices the partition may use, or NONE.

        The pick is random among the few devices within one replica of the neediest:
        always taking the very neediest makes devices take turns in a fixed cycle, and
        then the same few devices end up sharing all their partitions -- a failed device
        would leave its partitions with the same few survivors.
        """
        order = self.order
        size = len(order)
        pos = 0
        while pos < size:
            limit = order[pos][0] + _PICK_SLACK
            end = pos + 1
            while end < size and end - pos < _PICK_WIDTH and order[end][0] <= limit:
                end += 1
            window = [order[i][2] for i in range(pos, end)]
            while window:
                index = self.rng.randrange(len(window)) if len(window) > 1 else 0
                dev_id = window[index]
                if self._fits(dev_id, used):
                    return dev_id
                window[index] = window[-1]
                window.pop()
            pos = end
        return NONE

    def _least_bad(self, used: list[int]) -> int:
        """When no device fits the limits: the one that breaks them least.

        Sharing a device is the worst; then sharing a region, a zone, a host.
        """
        def badness(item: _OrderKey) -> tuple[int, int, int, int, _OrderKey]:
            tiers = self.dev_tiers[item[2]]
            over = [max(0, used.count(t) + 1 - self.caps[t]) for t in tiers]
            return (over[3], over[0], over[1], over[2], item)
        return min(self.order, key=badness)[2]

    # --- phases ---------------------------------------------------------------------

    def place_unassigned(self) -> None:
        """Rule 1: give a device to every replica that has none."""
        parts = [p for p in range(self.partitions)
                 if any(table[p] == NONE for table in self.tables)]
        self.rng.shuffle(parts)
        for part in parts:
            for replica, table in enumerate(self.tables):
                if table[part] != NONE:
                    continue
                used = self._used(part, replica)
                dev_id = self._best_fit(used)
                if dev_id == NONE:
                    dev_id = self._least_bad(used)
                self._set(part, replica, dev_id)

    def improve_dispersion(self) -> int:
        """Rule 2: move replicas out of domains holding more than their limit."""
        moves = 0
        parts = list(range(self.partitions))
        self.rng.shuffle(parts)
        replicas = range(len(self.tables))
        for part in parts:
            devs = [table[part] for table in self.tables]
            counts: dict[int, int] = {}
            for dev_id in devs:
                for tier in self.dev_tiers[dev_id]:
                    counts[tier] = counts.get(tier, 0) + 1
            over = {tier for tier, count in counts.items() if count > self.caps[tier]}
            if not over and not self._under_floor(counts):
                continue
            # Move the replica in the narrowest crowded domain, from the fullest device.
            candidates = sorted(
                (r for r in replicas
                 if (not over or over.intersection(self.dev_tiers[devs[r]]))
                 and self.movable(part, r)),
                key=lambda r: (-max((self.topo.tier_level[t] for t in
                                     over.intersection(self.dev_tiers[devs[r]])),
                                    default=0),
                               self.targets[devs[r]] - self.counts[devs[r]], r))
            for replica in candidates:
                dev_id = self._best_fit(self._used(part, replica))
                if dev_id != NONE:
                    self._set(part, replica, dev_id)
                    moves += 1
                    break
        return moves

    def _under_floor(self, counts: dict[int, int]) -> bool:
        for _level, floored in self.floor_levels:
            for tier, floor in floored:
                if counts.get(tier, 0) < floor:
                    return True
        return False

    def improve_balance(self) -> int:
        """Rule 3: move replicas from devices above target to devices below it."""
        moves = 0
        by_dev: dict[int, list[tuple[int, int]]] = {dev_id: [] for dev_id in self.counts}
        for replica, table in enumerate(self.tables):
            for part, dev_id in enumerate(table):
                if dev_id in by_dev:
                    by_dev[dev_id].append((part, replica))
        heavy = sorted(self.counts, key=lambda d: (self.targets[d] - self.counts[d], d))
        for dev_id in heavy:
            if not self._should_shed(dev_id):
                continue
            slots = by_dev[dev_id]
            self.rng.shuffle(slots)
            # Replicas already moved by this rebalance first: moving them again is free.
            slots.sort(key=lambda slot: not self._placed_mask(slot[0]) >> slot[1] & 1)
            for part, replica in slots:
                if not self._should_shed(dev_id):
                    break
                if self.tables[replica][part] != dev_id or not self.movable(part, replica):
                    continue
                dest = self._balance_dest(dev_id, self._used(part, replica))
                if dest != NONE:
                    self._set(part, replica, dest)
                    moves += 1
        return moves

    def _should_shed(self, dev_id: int) -> bool:
        if self.counts[dev_id] == 0:
            return False
        if dev_id not in self.active:
            return True  # being drained: everything goes, as min_part_hours allows
        excess = self.counts[dev_id] - self.targets[dev_id]
        # Only a device above its target gives, only to one below (else a heavy device
        # would overshoot below target and be refilled: twice the moves).
        return excess > _EPSILON and excess - self.order[0][0] > 1 + _EPSILON

    def _balance_dest(self, source: int, used: list[int]) -> int:
        drained = source not in self.active
        excess = self.counts[source] - self.targets[source]
        for deviation, _rank, dev_id in self.order:
            if deviation >= -_EPSILON and not drained:
                return NONE  # the rest are at or above target
            if not drained and excess - deviation <= 1 + _EPSILON:
                return NONE  # the rest are no emptier: a move would not help balance
            if dev_id != source and self._fits(dev_id, used):
                return dev_id
        return NONE

    def run(self) -> None:
        """All the phases, repeated while they still find useful moves."""
        self.place_unassigned()
        for _ in range(4):
            if not self.improve_dispersion() + self.improve_balance():
                break


# --- reports ------------------------------------------------------------------------


def spread_limits(active: list[Device], replicas: int) -> dict[Tier, int]:
    """Most replicas of one partition each domain needs to hold, weights aside.

    Replicas are shared as evenly as the topology allows at each level (a domain with one
    device takes at most one), so a partition above these limits is badly dispersed.
    """
    if not active:
        return {}
    per_dev = max(1.0, replicas / len(active))
    capacity: dict[Tier, float] = {}
    children: dict[Tier, list[Tier]] = {(): []}
    for dev in active:
        parent: Tier = ()
        for tier in tiers_of(dev):
            if tier not in capacity:
                capacity[tier] = 0.0
                children.setdefault(parent, []).append(tier)
                children[tier] = []
            capacity[tier] += per_dev
            parent = tier
    shares: dict[Tier, float] = {(): float(replicas)}
    limits: dict[Tier, int] = {}
    todo: list[Tier] = [()]
    while todo:
        parent = todo.pop()
        kids = children.get(parent) or []
        if not kids:
            continue
        split = water_fill(shares[parent], dict.fromkeys(kids, 1.0),
                           {kid: capacity[kid] for kid in kids})
        for kid in kids:
            shares[kid] = split[kid]
            limits[kid] = _ceil(split[kid])
            todo.append(kid)
    return limits


def dispersion_report(tables: list[PartTable], devs: list[Device | None],
                      replicas: int) -> dict[str, float]:
    """How many partitions have too many replicas in one region/zone/host/device.

    Returns ``{"region": n, "zone": n, "host": n, "device": n, "parts": total bad,
    "percent": share of partitions badly dispersed}``.
    """
    active = [d for d in devs if d is not None and d["weight"] > 0]
    limits = spread_limits(active, replicas)
    tiers = {d["id"]: tiers_of(d) for d in devs if d is not None}
    report: dict[str, float] = dict.fromkeys(TIER_NAMES, 0)
    bad_parts = 0
    partitions = len(tables[0]) if tables else 0
    for part in range(partitions):
        counts: dict[Tier, int] = {}
        for table in tables:
            for tier in tiers.get(table[part], ()):
                counts[tier] = counts.get(tier, 0) + 1
        bad_levels = {len(tier) for tier, count in counts.items()
                      if count > limits.get(tier, 0)}
        if bad_levels:
            bad_parts += 1
            for size in bad_levels:
                report[TIER_NAMES[{1: 0, 2: 1, 4: 2, 5: 3}[size]]] += 1
    report["parts"] = bad_parts
    report["percent"] = 100.0 * bad_parts / partitions if partitions else 0.0
    return report
