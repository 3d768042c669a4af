"""Placement invariants over random topologies (Hypothesis), plus the share arithmetic."""

import collections

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from oiofs.common.ring.placement import spread_limits, water_fill
from tests.support.rings import changed_slots, make_builder, placements

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# (region, zone, host, weight)
devices = st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 3),
                    st.sampled_from([0, 1, 10, 50, 100, 100]))
equal_devices = st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 3),
                          st.just(100))


def domains(layout, replica_devs):
    """Regions, zones and hosts used by a partition's devices."""
    picked = [layout[d] for d in replica_devs]
    return ({(r,) for r, *_ in picked}, {(r, z) for r, z, *_ in picked},
            {(r, z, h) for r, z, h, _ in picked})


@FAST
@given(layout=st.lists(devices, min_size=1, max_size=9), replicas=st.integers(1, 4),
       part_power=st.integers(3, 7), seed=st.integers(0, 2**16))
def test_any_topology_gives_a_valid_stable_ring(layout, replicas, part_power, seed):
    assume(any(weight for *_, weight in layout))
    builder = make_builder(layout, replicas=replicas, part_power=part_power)
    builder.rebalance(seed=seed)
    builder.validate()  # all assigned; no shared device unless fewer devices than replicas
    weighted = sum(1 for *_, weight in layout if weight)
    for devs in placements(builder):
        assert len(set(devs)) == min(replicas, weighted)
        assert all(layout[d][3] > 0 for d in devs)
    before = placements(builder)
    assert builder.rebalance(seed=seed + 1)[0] == 0
    assert placements(builder) == before


@FAST
@given(layout=st.lists(equal_devices, min_size=1, max_size=9), replicas=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_equal_weights_spread_over_domains_and_balance(layout, replicas, seed):
    count = len(layout)
    assume(replicas <= count)
    builder = make_builder(layout, replicas=replicas, part_power=7)
    builder.rebalance(seed=seed)
    per_zone = collections.Counter((r, z) for r, z, _, _ in layout)
    per_region = collections.Counter(r for r, *_ in layout)
    per_host = collections.Counter((r, z, h) for r, z, h, _ in layout)
    # A domain whose weight is at most 1/replicas of the total never needs two replicas.
    zones_free = all(replicas * n <= count for n in per_zone.values())
    regions_free = all(replicas * n <= count for n in per_region.values())
    hosts_free = all(replicas * n <= count for n in per_host.values())
    for devs in placements(builder):
        regions, zones, hosts = domains(layout, devs)
        if regions_free:
            assert len(regions) == replicas
        if zones_free:
            assert len(zones) == replicas
        if hosts_free:
            assert len(hosts) == replicas
        if len(per_zone) >= replicas and zones_free:
            assert len(zones) == replicas
    if zones_free and regions_free and hosts_free:
        counts = builder.dev_part_counts().values()
        assert max(counts) - min(counts) <= 1
    if 128 * replicas / count >= 20:
        assert builder.get_balance() <= 5.0


@FAST
@given(layout=st.lists(equal_devices, min_size=2, max_size=9), replicas=st.integers(1, 3),
       seed=st.integers(0, 2**16), pick=st.integers(0, 100))
def test_removing_a_device_keeps_the_other_placements(layout, replicas, seed, pick):
    # Equal weights: with uneven ones, a removal may raise another device's share to a
    # whole replica per partition, and then it must join partitions it was not in.
    weighted = [n for n, (*_, weight) in enumerate(layout) if weight]
    assume(len(weighted) >= 2)
    builder = make_builder(layout, replicas=replicas, part_power=6)
    builder.rebalance(seed=seed)
    victim = weighted[pick % len(weighted)]
    share = builder.dev_part_counts()[victim]
    before = placements(builder)
    builder.remove_dev(victim)
    builder.rebalance(seed=seed + 1)
    builder.validate()
    changes = changed_slots(before, placements(builder))
    assert sum(1 for _, _, old, _ in changes if old == victim) == share
    others = sum(1 for _, _, old, _ in changes if old != victim)
    assert others <= 0.1 * 64 * replicas  # limits may shift a little; most stay


@FAST
@given(weights=st.lists(st.sampled_from([1, 2, 5, 10]), min_size=3, max_size=8),
       seed=st.integers(0, 2**16))
def test_counts_follow_weights(weights, seed):
    builder = make_builder([(1, n + 1, w) for n, w in enumerate(weights)], replicas=1,
                           part_power=9)
    builder.rebalance(seed=seed)
    counts = builder.dev_part_counts()
    for dev_id, weight in enumerate(weights):
        assert abs(counts[dev_id] - 512 * weight / sum(weights)) <= 1


def test_water_fill_gives_what_a_capped_key_cannot_take_to_the_others():
    shares = water_fill(3, {"a": 10, "b": 1, "c": 1}, {"a": 1, "b": 1, "c": 1})
    assert shares == {"a": 1, "b": 1.0, "c": 1.0}
    shares = water_fill(2, {"a": 3, "b": 1, "c": 0}, {"a": 5, "b": 5, "c": 5})
    assert shares == {"a": 1.5, "b": 0.5, "c": 0.0}


def test_spread_limits_follow_the_topology():
    layout = [(1, 1, 100), (1, 1, 100), (1, 1, 100), (1, 2, 100)]
    builder = make_builder(layout)
    active = [d for d in builder.devs]
    limits = spread_limits(active, 3)
    assert limits[(1,)] == 3
    assert limits[(1, 1)] == 2 and limits[(1, 2)] == 1
    assert all(limit == 1 for tier, limit in limits.items() if len(tier) == 5)


@pytest.mark.parametrize("layout, expected", [
    ([(1, 1, 100), (1, 2, 100), (1, 3, 100)], 0.0),
    ([(1, 1, 100), (1, 1, 100), (1, 2, 100), (1, 3, 100)], 50.0),
])
def test_dispersion_report_counts_crowded_partitions(layout, expected):
    builder = make_builder(layout)
    builder.rebalance(seed=1)
    report = builder.dispersion_report()
    assert report["percent"] == pytest.approx(expected, abs=1.0)
    # Weights ask for 1.5 replicas per partition in zone 1 of the second layout: the
    # weights win, and the report says how many partitions pay for it.
    assert report["zone"] == report["parts"]
