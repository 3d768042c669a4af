"""RingBuilder: device bookkeeping, rebalance quality, minimal movement, files."""

import base64
import collections
import json
import os
import time

import pytest

from oiofs.common.exceptions import RingBuilderError, RingLoadError, RingValidationError
from oiofs.common.ring import RingBuilder
from tests.support.rings import changed_slots, make_builder, placements

EQUAL_5_ZONES = [(1, zone, 100) for zone in range(1, 6)]
EQUAL_8_IN_4_ZONES = [(1, 1 + n % 4, 100) for n in range(8)]
HOUR = 3600


def zone_of(builder, dev_id):
    dev = builder.devs[dev_id]
    return dev["region"], dev["zone"]


# --- devices ------------------------------------------------------------------------


def test_add_dev_gives_lowest_free_id_and_refuses_duplicates():
    builder = make_builder([(1, 1, 1), (1, 2, 1)], replicas=1)
    assert [d["id"] for d in builder.devs] == [0, 1]
    with pytest.raises(RingBuilderError, match="already uses"):
        builder.add_dev(dict(builder.devs[0], id=None))
    with pytest.raises(RingBuilderError, match="already in use"):
        builder.add_dev({"id": 1, "zone": 3, "ip": "10.9.9.9", "port": 1, "device": "x",
                         "weight": 1})
    assert builder.add_dev({"id": 5, "zone": 3, "ip": "10.9.9.9", "port": 1, "device": "x",
                            "weight": 1}) == 5
    assert builder.devs[2] is None and builder.devs[5]["id"] == 5
    assert builder.add_dev({"zone": 3, "ip": "10.9.9.9", "port": 2, "device": "y",
                            "weight": 1}) == 2


def test_removed_id_is_reused_only_after_rebalance():
    builder = make_builder(EQUAL_5_ZONES)
    builder.rebalance(seed=1)
    builder.remove_dev(1)
    new = {"zone": 9, "ip": "10.9.9.9", "port": 1, "device": "x", "weight": 100}
    assert builder.add_dev(dict(new)) == 5
    _, _, removed = builder.rebalance(seed=1)
    assert [d["id"] for d in removed] == [1] and builder.devs[1] is None
    assert builder.add_dev(dict(new, port=2)) == 1


def test_unknown_device_and_bad_weight_are_errors():
    builder = make_builder(EQUAL_5_ZONES)
    with pytest.raises(RingBuilderError, match="no device"):
        builder.remove_dev(42)
    with pytest.raises(RingBuilderError, match="weight"):
        builder.set_dev_weight(0, -3)
    builder.remove_dev(0)
    with pytest.raises(RingBuilderError, match="being removed"):
        builder.set_dev_weight(0, 5)


def test_search_devs_by_value_and_dict():
    builder = make_builder(EQUAL_8_IN_4_ZONES)
    assert [d["id"] for d in builder.search_devs("z2")] == [1, 5]
    assert [d["id"] for d in builder.search_devs("d3")] == [3]
    assert [d["id"] for d in builder.search_devs("/sd4")] == [4]
    assert [d["id"] for d in builder.search_devs({"zone": 3, "device": "sd6"})] == [6]
    assert builder.search_devs("r2") == []


@pytest.mark.parametrize("args", [(-1, 3, 1), (25, 3, 1), (8, 0, 1), (8, 3, -1),
                                  (8, 2.5, 1), ("x", 3, 1)])
def test_bad_builder_parameters(args):
    with pytest.raises(RingBuilderError):
        RingBuilder(*args)


def test_rebalance_needs_weighted_devices():
    builder = make_builder([(1, 1, 0)])
    with pytest.raises(RingBuilderError, match="weight above 0"):
        builder.rebalance()


# --- placement quality --------------------------------------------------------------


def test_first_rebalance_places_everything_spread_over_zones():
    builder = make_builder(EQUAL_5_ZONES, part_power=9)
    moved, balance, removed = builder.rebalance(seed=4)
    assert moved == 512 and removed == []
    builder.validate()
    assert balance < 1.0
    for part, devs in enumerate(placements(builder)):
        zones = {zone_of(builder, d) for d in devs}
        assert len(zones) == 3, (part, devs)
    assert builder.get_dispersion() == 0.0


def test_replicas_go_to_separate_regions_first():
    layout = [(1, 1, 100), (1, 2, 100), (1, 3, 100), (2, 1, 100), (2, 2, 100), (2, 3, 100)]
    builder = make_builder(layout, replicas=2)
    builder.rebalance(seed=2)
    for devs in placements(builder):
        assert {builder.devs[d]["region"] for d in devs} == {1, 2}


def test_hosts_are_spread_inside_a_zone():
    # One zone, two hosts of two devices each: two replicas never share a host.
    layout = [(1, 1, 1, 100), (1, 1, 1, 100), (1, 1, 2, 100), (1, 1, 2, 100)]
    builder = make_builder(layout, replicas=2)
    builder.rebalance(seed=3)
    for devs in placements(builder):
        assert len({builder.devs[d]["ip"] for d in devs}) == 2


def test_many_device_combinations_are_used():
    # A failed device's partitions must be shared by many survivors, not a fixed few.
    builder = make_builder([(1, 1 + n % 5, 100) for n in range(10)], part_power=10)
    builder.rebalance(seed=5)
    combos = collections.Counter(frozenset(devs) for devs in placements(builder))
    assert len(combos) >= 40
    partners = collections.Counter(d for devs in placements(builder) if 0 in devs
                                   for d in devs if d != 0)
    assert len(partners) >= 7


def test_balance_with_equal_weights():
    builder = make_builder([(1, 1 + n % 4, 100) for n in range(7)], part_power=10)
    _, balance, _ = builder.rebalance(seed=6)
    assert balance < 1.0
    counts = builder.dev_part_counts()
    assert max(counts.values()) - min(counts.values()) <= 1


def test_weights_are_honoured_proportionally():
    weights = [100, 200, 300, 400, 100, 200]
    builder = make_builder([(1, n + 1, w) for n, w in enumerate(weights)], part_power=10)
    _, balance, _ = builder.rebalance(seed=7)
    assert balance < 2.0
    counts = builder.dev_part_counts()
    total = sum(counts.values())
    for dev_id, weight in enumerate(weights):
        assert counts[dev_id] / total == pytest.approx(weight / sum(weights), rel=0.02)


def test_heavy_device_holds_at_most_one_replica_per_partition():
    # Weight 10 of 12 would ask for 2.5 replicas per partition: capped at one each.
    builder = make_builder([(1, 1, 10), (1, 2, 1), (1, 3, 1)])
    builder.rebalance(seed=1)
    assert all(len(set(devs)) == 3 for devs in placements(builder))


def test_more_replicas_than_devices_is_allowed_with_a_warning():
    builder = make_builder([(1, 1, 100), (1, 2, 100)], replicas=3)
    builder.rebalance(seed=1)
    assert builder.warnings and "only 2 devices" in builder.warnings[0]
    builder.validate()
    for devs in placements(builder):
        assert set(devs) == {0, 1}  # sharing only as much as unavoidable


def test_four_replicas_on_three_devices_use_all_three():
    builder = make_builder([(1, 1, 1), (1, 1, 10), (1, 2, 100)], replicas=4)
    builder.rebalance(seed=24)
    builder.validate()
    assert all(len(set(devs)) == 3 for devs in placements(builder))


def test_zero_weight_device_is_drained_and_kept():
    builder = make_builder(EQUAL_5_ZONES)
    builder.rebalance(seed=1)
    builder.set_dev_weight(2, 0)
    builder.rebalance(seed=1)
    assert builder.dev_part_counts()[2] == 0
    assert builder.devs[2] is not None
    builder.validate()


# --- minimal movement ---------------------------------------------------------------


@pytest.mark.parametrize("layout, victim", [
    (EQUAL_5_ZONES, 2), (EQUAL_8_IN_4_ZONES, 5), ([(1, z, 100) for z in range(1, 5)], 0),
    ([(1, 1 + n % 3, 100) for n in range(6)], 4),
])
def test_removing_one_device_moves_only_its_partitions(layout, victim):
    builder = make_builder(layout, part_power=9)
    builder.rebalance(seed=1)
    share = builder.dev_part_counts()[victim]
    before = placements(builder)
    moved, _, removed = builder.rebalance(seed=2)
    assert moved == 0
    builder.remove_dev(victim)
    moved, balance, removed = builder.rebalance(seed=3)
    assert [d["id"] for d in removed] == [victim]
    changes = changed_slots(before, placements(builder))
    # Every replica of the removed device moves; rounding may move a couple more.
    assert sum(1 for _, _, old, _ in changes if old == victim) == share
    assert share <= moved <= share * 1.02 + 1
    assert balance < 2.0
    builder.validate()


def test_changing_one_weight_moves_little():
    builder = make_builder([(1, 1 + n % 5, 100) for n in range(10)], part_power=10)
    builder.rebalance(seed=1)
    before = placements(builder)
    counts = builder.dev_part_counts()
    builder.set_dev_weight(4, 150)
    moved, balance, _ = builder.rebalance(seed=2)
    gained = builder.dev_part_counts()[4] - counts[4]
    assert gained > 0
    changes = changed_slots(before, placements(builder))
    assert moved <= gained * 1.1 + 3
    assert sum(1 for *_, new in changes if new == 4) >= 0.9 * len(changes)
    assert balance < 2.0


def test_adding_a_device_moves_about_its_share():
    builder = make_builder([(1, 1 + n % 4, 100) for n in range(8)], part_power=10)
    builder.rebalance(seed=1)
    before = placements(builder)
    builder.add_dev({"zone": 4, "ip": "10.1.4.99", "port": 6000, "device": "new",
                     "weight": 100})
    moved, balance, _ = builder.rebalance(seed=2)
    target = 3 * 1024 / 9
    assert target * 0.95 <= moved <= target * 1.1
    changes = changed_slots(before, placements(builder))
    assert sum(1 for *_, new in changes if new == 8) >= 0.95 * len(changes)
    assert balance < 2.0


def test_rerunning_rebalance_moves_nothing():
    for layout in (EQUAL_5_ZONES, EQUAL_8_IN_4_ZONES,
                   [(1, 1, 100), (1, 2, 50), (2, 1, 75), (2, 2, 100), (2, 3, 10)]):
        builder = make_builder(layout)
        builder.rebalance(seed=1)
        before = placements(builder)
        moved, _, _ = builder.rebalance(seed=99)
        assert moved == 0 and placements(builder) == before


# --- min_part_hours -----------------------------------------------------------------


def test_min_part_hours_holds_partitions_but_not_removed_devices():
    now = 1_700_000_000.0
    builder = make_builder(EQUAL_8_IN_4_ZONES, min_part_hours=2)
    builder.rebalance(seed=1, now=now)
    assert builder.min_part_seconds_left(now=now) == 2 * HOUR
    builder.add_dev({"zone": 1, "ip": "10.1.1.99", "port": 1, "device": "new",
                     "weight": 100})
    moved, _, _ = builder.rebalance(seed=2, now=now + HOUR)
    assert moved == 0 and builder.dev_part_counts()[8] == 0

    # A removed device's replicas move anyway: those copies are going away.
    share = builder.dev_part_counts()[3]
    builder.remove_dev(3)
    moved, _, removed = builder.rebalance(seed=3, now=now + HOUR + 60)
    assert removed and moved == share

    before = placements(builder)
    moved, _, _ = builder.rebalance(seed=4, now=now + 2 * HOUR + 120)
    assert moved > 0
    changes = changed_slots(before, placements(builder))
    # Partitions just moved for the removal stay put; at most one replica of a
    # partition moves in one rebalance.
    parts = collections.Counter(part for part, *_ in changes)
    assert max(parts.values()) == 1


def test_pretend_min_part_hours_passed():
    now = 1_700_000_000.0
    builder = make_builder(EQUAL_5_ZONES, min_part_hours=24)
    builder.rebalance(seed=1, now=now)
    builder.set_dev_weight(0, 50)
    assert builder.rebalance(seed=1, now=now + 60)[0] == 0
    builder.pretend_min_part_hours_passed()
    assert builder.min_part_seconds_left(now=now + 60) == 0
    assert builder.rebalance(seed=1, now=now + 120)[0] > 0


def test_real_clock_is_used_without_now():
    builder = make_builder(EQUAL_5_ZONES, min_part_hours=1)
    builder.rebalance(seed=1)
    left = builder.min_part_seconds_left()
    assert HOUR - 120 <= left <= HOUR
    assert builder.min_part_seconds_left(now=time.time() + 2 * HOUR) == 0


# --- determinism, replicas, validation, files ---------------------------------------


def test_same_seed_same_placement_and_ring_bytes():
    first = make_builder(EQUAL_8_IN_4_ZONES)
    second = make_builder(EQUAL_8_IN_4_ZONES)
    first.rebalance(seed=11)
    second.rebalance(seed=11)
    assert placements(first) == placements(second)
    assert first.get_ring().to_bytes() == second.get_ring().to_bytes()
    third = make_builder(EQUAL_8_IN_4_ZONES)
    third.rebalance(seed=12)
    assert placements(third) != placements(first)


def test_set_replicas_up_and_down():
    builder = make_builder(EQUAL_5_ZONES, replicas=2)
    builder.rebalance(seed=1)
    kept = [devs[:2] for devs in placements(builder)]
    builder.set_replicas(3)
    builder.rebalance(seed=1)
    assert [devs[:2] for devs in placements(builder)] == kept
    assert all(len({zone_of(builder, d) for d in devs}) == 3 for devs in placements(builder))
    builder.set_replicas(2)
    builder.rebalance(seed=1)
    assert [devs for devs in placements(builder)] == kept
    builder.validate()


def test_validate_reports_problems():
    builder = make_builder(EQUAL_5_ZONES)
    with pytest.raises(RingValidationError, match="never rebalanced"):
        builder.validate()
    builder.rebalance(seed=1)
    builder.validate()
    table = builder._replica2part2dev  # corrupt the placement on purpose
    table[1][0] = table[0][0]
    with pytest.raises(RingValidationError, match="two replicas on one device"):
        builder.validate()
    builder.remove_dev(table[0][0])
    with pytest.raises(RingValidationError, match="being removed"):
        builder.validate()


def test_save_and_load_round_trip(tmp_path):
    path = str(tmp_path / "object.builder")
    builder = make_builder(EQUAL_8_IN_4_ZONES, min_part_hours=3)
    builder.rebalance(seed=1)
    builder.remove_dev(2)
    builder.remove_dev(0)  # replaced by a new device at the same address
    builder.add_dev(dict(builder.devs[0], id=None, weight=100))
    builder.save(path)
    loaded = RingBuilder.load(path)
    assert loaded.to_dict() == builder.to_dict()
    assert loaded.is_removing(2) and loaded.devs_changed
    assert os.listdir(tmp_path) == ["object.builder"]  # no temp file left behind
    # Same operations on both give the same result.
    assert builder.rebalance(seed=5)[:2] == loaded.rebalance(seed=5)[:2]
    assert placements(builder) == placements(loaded)


def test_load_rejects_bad_files(tmp_path):
    path = tmp_path / "x.builder"
    with pytest.raises(RingLoadError, match="does not exist"):
        RingBuilder.load(str(path))
    path.write_text("{not json")
    with pytest.raises(RingLoadError, match="not a builder file"):
        RingBuilder.load(str(path))
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(RingLoadError, match="not an oiofs builder"):
        RingBuilder.load(str(path))
    builder = make_builder(EQUAL_5_ZONES)
    builder.rebalance(seed=1)
    data = builder.to_dict()
    good_table = data["replica2part2dev"][0]
    data["replica2part2dev"][0] = base64.b64encode(b"\0\0" * 255).decode()
    path.write_text(json.dumps(data))
    with pytest.raises(RingLoadError, match="255 entries, not 256"):
        RingBuilder.load(str(path))
    data["replica2part2dev"][0] = "#" + good_table[1:]
    path.write_text(json.dumps(data))
    with pytest.raises(RingLoadError, match="not valid base64"):
        RingBuilder.load(str(path))


def test_get_ring_needs_a_rebalance():
    builder = make_builder(EQUAL_5_ZONES)
    with pytest.raises(RingBuilderError, match="rebalanced"):
        builder.get_ring()
    builder.rebalance(seed=1)
    ring = builder.get_ring()
    assert ring.part_power == 8 and ring.replica_count == 3
    assert set(ring.devs[0]) == {"id", "region", "zone", "ip", "port", "device", "weight",
                                 "meta", "replication_ip", "replication_port"}


def test_rebalance_of_a_large_ring_is_fast():
    builder = make_builder([(1, 1 + n % 5, 100) for n in range(10)], part_power=14)
    start = time.process_time()
    builder.rebalance(seed=1)
    first = time.process_time() - start
    builder.remove_dev(3)
    start = time.process_time()
    builder.rebalance(seed=2)
    second = time.process_time() - start
    assert first < 2.0 and second < 2.0, (first, second)
