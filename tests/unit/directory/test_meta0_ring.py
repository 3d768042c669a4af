"""A meta0 mapping exported as a ring file the ring reader loads, and imported back."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oiofs.common.ring import Ring, RingBuilder, RingData
from oiofs.directory.meta0 import Meta0PrefixMapping
from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.meta0_ring import export_ring, import_ring, split_addr
from oiofs.directory.prefixes import base_to_partition


def services(count, hosts=3):
    return [{"id": f"svc-{i}", "addr": f"127.0.0.{1 + i % hosts}:{6200 + i}",
             "score": 10 + i, "tags": {"tag.loc": f"dc1.rack{i % 2}.host{i % hosts}.sd{i}"}}
            for i in range(count)]


def device_of(dev):
    return dev["region"], dev["zone"], dev["ip"], dev["port"], dev["device"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(3, 12), replicas=st.integers(1, 3), digits=st.integers(0, 3))
def test_export_then_import_gives_the_same_mapping(tmp_path_factory, count, replicas, digits):
    svcs = services(count)
    mapping = Meta0PrefixMapping(None, replicas=replicas, digits=digits, services=svcs)
    mapping.bootstrap()
    path = str(tmp_path_factory.mktemp("ring") / "container.ring.gz")
    export_ring(mapping).save(path)
    ring = Ring(path)
    assert ring.part_power == 4 * digits and ring.replica_count == replicas
    for base, slots in mapping.raw_services_by_base.items():
        nodes = ring.get_part_nodes(base_to_partition(base, digits))
        wanted = [split_addr(mapping.services[s]["addr"]) for s in slots]
        assert [(n["ip"], n["port"]) for n in nodes] == wanted
    again = import_ring(RingData.load(path))
    assert again.raw_services_by_base == mapping.raw_services_by_base
    assert {s: again.get_loc(s) for s in again.services} == \
        {s: mapping.get_loc(s) for s in mapping.services}
    assert {s: again.get_score(s) for s in again.services} == \
        {s: mapping.get_score(s) for s in mapping.services}


def test_import_then_export_gives_identical_assignments(tmp_path):
    builder = RingBuilder(8, 3, 0)
    for i in range(6):
        builder.add_dev({"region": 1 + i % 2, "zone": i % 3, "ip": f"10.0.0.{i}",
                         "port": 6201, "device": f"sd{chr(97 + i)}.1", "weight": 100})
    builder.rebalance(seed=1)
    ring = builder.get_ring()
    mapping = import_ring(ring)
    assert mapping.digits == 2 and mapping.replicas == 3
    assert mapping.check_replicas()
    out = export_ring(mapping)
    out.save(str(tmp_path / "account.ring.gz"))
    loaded = RingData.load(str(tmp_path / "account.ring.gz"))
    for r in range(3):
        for part in range(256):
            before = ring.devs[ring.replica2part2dev_id[r][part]]
            after = loaded.devs[loaded.replica2part2dev_id[r][part]]
            assert device_of(after) == device_of(before)


def test_export_refuses_an_incomplete_mapping():
    mapping = Meta0PrefixMapping(None, replicas=2, digits=1, services=services(3))
    with pytest.raises(Meta0Error, match="bootstrap"):
        export_ring(mapping)
    mapping.bootstrap()
    mapping.assign_services("0000", ["svc-0", "unknown"])
    with pytest.raises(Meta0Error, match="no description"):
        export_ring(mapping)


def test_import_refuses_part_powers_that_are_not_hex_digits():
    builder = RingBuilder(6, 1, 0)
    builder.add_dev({"region": 1, "zone": 1, "ip": "10.0.0.1", "port": 6201,
                     "device": "sda", "weight": 1})
    builder.rebalance(seed=1)
    with pytest.raises(Meta0Error, match="part power 6"):
        import_ring(builder.get_ring())


def test_export_numbers_named_regions_and_zones():
    svcs = [{"id": f"s{i}", "addr": f"[::1]:{6000 + i}", "score": 1,
             "tags": {"tag.loc": f"{'paris' if i < 2 else 'lyon'}.room{i}.h{i}.d"}}
            for i in range(4)]
    mapping = Meta0PrefixMapping(None, replicas=2, digits=1, min_dist=4, services=svcs)
    mapping.bootstrap()
    ring = export_ring(mapping)
    regions = {dev["meta"]: dev["region"] for dev in ring.devs}
    assert sorted(set(regions.values())) == [1, 2]
    assert ring.devs[0]["ip"] == "::1"
    assert import_ring(ring).raw_services_by_base == mapping.raw_services_by_base
