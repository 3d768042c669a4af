"""Meta0PrefixMapping: placement rules, balance, decommission, rebalance, JSON round trip."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oiofs.directory.locations import dist_between, parse_location
from oiofs.directory.meta0 import Meta0Client, Meta0PrefixMapping
from oiofs.directory.meta0_errors import Meta0Error, Meta0PlacementError
from oiofs.directory.prefixes import (
    base_to_partition,
    count_prefixes,
    generate_prefixes,
    generate_short_prefixes,
    partition_to_base,
    prefix_siblings,
    prefix_to_base,
)

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def topology(shape):
    """Services from a nested shape: regions -> zones -> hosts -> device count."""
    services = []
    for r, zones in enumerate(shape):
        for z, hosts in enumerate(zones):
            for h, devices in enumerate(hosts):
                for d in range(devices):
                    port = 6000 + len(services)
                    services.append({"addr": f"127.0.0.1:{port}", "score": 50,
                                     "tags": {"tag.loc": f"r{r}.z{z}.h{r}{z}{h}.d{d}"}})
    return services


shapes = st.lists(st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=3),
                           min_size=1, max_size=3), min_size=1, max_size=3)


def domains(mapping, min_dist):
    """Services per domain at the level replicas must differ by."""
    depth = 4 - min_dist + 1
    out = {}
    for sid in mapping.services:
        out.setdefault(parse_location(mapping.get_loc(sid))[:depth], []).append(sid)
    return out


def assert_balanced(mapping):
    counts = mapping.count_pfx_by_svc()
    targets = mapping.targets()
    for sid, target in targets.items():
        assert abs(counts[sid] - target) <= 1 + 1e-9, (sid, counts[sid], target)
    assert sum(counts.values()) == mapping.num_bases() * mapping.replicas


def assert_min_dist(mapping):
    for base, slots in mapping.raw_services_by_base.items():
        assert len(set(slots)) == mapping.replicas, base
        for i, a in enumerate(slots):
            for b in slots[i + 1:]:
                assert dist_between(mapping.get_loc(a), mapping.get_loc(b)) >= mapping.min_dist


def bootstrapped(shape, replicas, min_dist, digits=2):
    mapping = Meta0PrefixMapping(None, replicas=replicas, digits=digits, min_dist=min_dist,
                                 services=topology(shape))
    try:
        mapping.bootstrap()
    except Meta0PlacementError:
        # Refused only when there are fewer distinct domains than replicas.
        assert len(domains(mapping, min_dist)) < replicas
        return None
    return mapping


# --- prefixes -----------------------------------------------------------------------


def test_prefix_helpers():
    assert count_prefixes(4) == 65536
    assert list(generate_short_prefixes(0)) == [""]
    assert list(generate_prefixes(1))[:2] == ["0000", "1000"]
    assert prefix_to_base("12ab", 2) == "1200"
    assert prefix_siblings("12AB", 3) == [f"12A{c}" for c in "0123456789ABCDEF"]
    assert partition_to_base(base_to_partition("F0A0", 3), 3) == "F0A0"
    with pytest.raises(Meta0Error):
        count_prefixes(5)
    with pytest.raises(Meta0Error):
        prefix_to_base("12G4", 2)


def test_dist_between_counts_levels_from_the_device_up():
    assert dist_between("r.z.h.d", "r.z.h.d") == 0
    assert dist_between("r.z.h.d1", "r.z.h.d2") == 1
    assert dist_between("r.z.h1.d", "r.z.h2.d") == 2
    assert dist_between("r1.z.h.d", "r2.z.h.d") == 4


# --- bootstrap ----------------------------------------------------------------------


@SETTINGS
@given(shape=shapes, replicas=st.integers(1, 3), min_dist=st.integers(1, 4))
# Found by hypothesis: no single move can balance it, two moves through a third can.
@example(shape=[[[1, 2, 3]], [[1], [1, 3, 3]], [[1], [1, 1, 1], [3, 3, 3]]], replicas=2,
         min_dist=4)
def test_bootstrap_respects_min_dist_and_balance(shape, replicas, min_dist):
    mapping = bootstrapped(shape, replicas, min_dist)
    if mapping is None:
        return
    assert mapping.check_replicas()
    assert_min_dist(mapping)
    assert_balanced(mapping)
    n = len(mapping.services)
    if all(len(group) * replicas <= n for group in domains(mapping, min_dist).values()):
        # No domain is too big to take its part: everyone within one base of the mean.
        mean = mapping.num_bases() * replicas / n
        assert all(abs(c - mean) <= 1 for c in mapping.count_pfx_by_svc().values())


def test_bootstrap_spreads_over_the_level_slices():
    services = topology([[[2, 2]], [[2, 2]], [[2, 2]]])  # three regions of 4 devices
    mapping = Meta0PrefixMapping(None, replicas=3, digits=2, min_dist=1, services=services)
    mapping.bootstrap(level="region")
    for slots in mapping.raw_services_by_base.values():
        assert len({parse_location(mapping.get_loc(s))[0] for s in slots}) == 3


def test_bootstrap_degradation_tolerates_fewer_slices():
    services = topology([[[2, 2]], [[2, 2]]])  # two regions, three replicas
    mapping = Meta0PrefixMapping(None, replicas=3, digits=1, services=services)
    with pytest.raises(Meta0PlacementError, match="region slices"):
        mapping.bootstrap(level="site")
    mapping.bootstrap(level="site", degradation=1)
    for slots in mapping.raw_services_by_base.values():
        assert len({parse_location(mapping.get_loc(s))[0] for s in slots}) == 2
    assert_balanced(mapping)


def test_services_with_score_zero_get_nothing():
    services = topology([[[4]]])
    services[0]["score"] = 0
    mapping = Meta0PrefixMapping(None, replicas=2, digits=1, services=services)
    mapping.bootstrap()
    assert mapping.count_pfx_by_svc()[services[0]["addr"]] == 0
    assert mapping.check_replicas()


# --- decommission and rebalance ------------------------------------------------------


@SETTINGS
@given(shape=shapes, replicas=st.integers(1, 3), min_dist=st.integers(1, 3),
       pick=st.integers(0, 1000))
def test_decommission_moves_only_that_services_bases(shape, replicas, min_dist, pick):
    mapping = bootstrapped(shape, replicas, min_dist)
    if mapping is None:
        return
    victim = sorted(mapping.services)[pick % len(mapping.services)]
    before = {b: list(s) for b, s in mapping.raw_services_by_base.items()}
    try:
        moved = mapping.decommission(victim)
    except Meta0PlacementError:
        # Only when the rest cannot hold the replicas any more.
        others = [s for s in mapping.services if s != victim]
        assert len({parse_location(mapping.get_loc(s))[:5 - min_dist]
                    for s in others}) < replicas
        return
    assert sorted(moved) == sorted(b for b, s in before.items() if victim in s)
    for base, slots in mapping.raw_services_by_base.items():
        old = before[base]
        if victim not in old:
            assert slots == old
        else:
            assert victim not in slots
            assert [s for s, o in zip(slots, old, strict=True) if s != o] != []
            assert all(s == o for s, o in zip(slots, old, strict=True) if o != victim)
    assert mapping.count_pfx_by_svc()[victim] == 0
    assert_min_dist(mapping)
    mapping.rebalance()
    assert mapping.count_pfx_by_svc()[victim] == 0  # stays decommissioned


@SETTINGS
@given(shape=shapes, extra=shapes, replicas=st.integers(1, 3), min_dist=st.integers(1, 3))
def test_rebalance_after_growth_terminates_balanced(shape, extra, replicas, min_dist):
    mapping = bootstrapped(shape, replicas, min_dist)
    if mapping is None:
        return
    grown = topology(shape + extra)
    mapping.set_services(grown)
    moved = mapping.rebalance()
    assert len(moved) <= mapping.num_bases()
    assert mapping.rebalance() == []  # a fixed point: nothing left to improve
    assert_min_dist(mapping)
    assert_balanced(mapping)


def test_rebalance_stops_at_max_loops():
    mapping = Meta0PrefixMapping(None, replicas=1, digits=2, services=topology([[[2]]]))
    mapping.bootstrap()
    mapping.set_services(topology([[[4]]]))
    assert len(mapping.rebalance(max_loops=3)) == 3
    assert len(mapping.rebalance()) == 128 - 3


def test_rebalance_drains_a_service_whose_score_fell_to_zero():
    services = topology([[[3, 3]]])
    mapping = Meta0PrefixMapping(None, replicas=2, digits=2, min_dist=2, services=services)
    mapping.bootstrap()
    services[0]["score"] = 0
    mapping.set_services(services)
    mapping.rebalance()
    assert mapping.count_pfx_by_svc()[services[0]["addr"]] == 0
    assert_balanced(mapping)
    assert_min_dist(mapping)


def test_find_services_less_bases_keeps_known_and_picks_the_emptiest():
    mapping = Meta0PrefixMapping(None, replicas=3, digits=1, services=topology([[[5]]]))
    mapping.bootstrap()
    known = ["127.0.0.1:6003"]
    mapping.assign_services("0000", ["127.0.0.1:6000", "127.0.0.1:6001", "127.0.0.1:6002"])
    chosen = mapping.find_services_less_bases(known=known)
    assert chosen[0] == known[0] and len(set(chosen)) == 3
    with pytest.raises(Meta0Error):
        mapping.assign_services("0000", chosen, fail_if_already_set=True)


# --- JSON ---------------------------------------------------------------------------


@settings(SETTINGS, max_examples=8)  # each example writes and parses 65,536 prefixes
@given(shape=shapes, digits=st.integers(0, 2))
def test_json_round_trip(shape, digits):
    services = topology(shape)
    mapping = Meta0PrefixMapping(None, replicas=1, digits=digits, services=services)
    mapping.bootstrap()
    text = mapping.to_json()
    assert len(json.loads(text)) == 65536
    again = Meta0PrefixMapping(None, replicas=1, digits=digits, services=services)
    again.load_json(text)
    assert again.raw_services_by_base == mapping.raw_services_by_base
    assert again.count_pfx_by_svc() == mapping.count_pfx_by_svc()


def test_load_json_refuses_disagreeing_siblings():
    mapping = Meta0PrefixMapping(None, replicas=1, digits=2, services=topology([[[2]]]))
    with pytest.raises(Meta0Error, match="disagree"):
        mapping.load_json(json.dumps({"AB00": ["127.0.0.1:6000"], "AB01": ["127.0.0.1:6001"]}))
    with pytest.raises(Meta0Error):
        mapping.load_json("not json")


def test_client_keeps_the_mapping_durably(tmp_path):
    path = tmp_path / "meta0.json"
    client = Meta0Client({"meta0_path": str(path)})
    assert client.list() == {}
    mapping = Meta0PrefixMapping(client, replicas=2, digits=1, services=topology([[[3]]]))
    mapping.bootstrap()
    mapping.apply()
    assert len(Meta0Client({"meta0_path": str(path)}).list()) == 65536
    client.force({"0000": ["x", "y"]})  # partial: the other prefixes stay
    reread = Meta0PrefixMapping(Meta0Client({"meta0_path": str(path)}), replicas=2, digits=4)
    reread.load_meta0()
    assert reread.raw_services_by_base["0000"] == ["x", "y"]
    assert reread.raw_services_by_base["0001"] == mapping.raw_services_by_base["0000"]
    with pytest.raises(Meta0Error):
        client.force({"0000": []})
    with pytest.raises(Meta0Error):
        client.force({"zz": ["x"]})
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@settings(SETTINGS, max_examples=15)
@given(shape=shapes, replicas=st.integers(1, 3), min_dist=st.integers(0, 3))
def test_bootstrap_picks_as_find_services_less_bases(shape, replicas, min_dist):
    """The bootstrap's candidate pool chooses exactly what the public picker would."""
    fast = bootstrapped(shape, replicas, min_dist, digits=1) if min_dist else None
    if min_dist == 0:
        fast = Meta0PrefixMapping(None, replicas=replicas, digits=1, min_dist=0,
                                  services=topology(shape))
        if len(fast.services) < replicas:
            return
        fast.bootstrap()
    if fast is None:
        return
    slow = Meta0PrefixMapping(None, replicas=replicas, digits=1, min_dist=min_dist,
                              services=topology(shape))
    for base in generate_prefixes(1):
        slow.assign_services(base, slow.find_services_less_bases())
    slow.rebalance()
    assert slow.raw_services_by_base == fast.raw_services_by_base
