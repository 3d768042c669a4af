"""Builders of small rings for the ring tests."""

from __future__ import annotations

from oiofs.common.ring import RingBuilder


def make_builder(layout: list[tuple], replicas: int = 3, part_power: int = 8,
                 min_part_hours: int = 0) -> RingBuilder:
    """A builder with one device per ``(region, zone, weight)`` or
    ``(region, zone, host_number, weight)`` entry; ports make each device unique."""
    builder = RingBuilder(part_power, replicas, min_part_hours)
    for number, entry in enumerate(layout):
        if len(entry) == 3:
            region, zone, weight = entry
            host = number
        else:
            region, zone, host, weight = entry
        builder.add_dev({"region": region, "zone": zone, "ip": f"10.{region}.{zone}.{host}",
                         "port": 6200, "device": f"sd{number}", "weight": weight})
    return builder


def placements(builder: RingBuilder) -> list[tuple[int, ...]]:
    """Per partition, the device ids of its replicas in replica order."""
    ring = builder.get_ring()
    tables = ring.replica2part2dev_id
    return [tuple(table[part] for table in tables) for part in range(ring.partition_count)]


def changed_slots(before: list[tuple[int, ...]], after: list[tuple[int, ...]]
                  ) -> list[tuple[int, int, int, int]]:
    """``(part, replica, old_dev, new_dev)`` for every replica that moved."""
    return [(part, r, old[r], new[r])
            for part, (old, new) in enumerate(zip(before, after, strict=True))
            for r in range(len(old)) if old[r] != new[r]]
