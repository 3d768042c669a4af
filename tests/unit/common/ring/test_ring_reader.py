"""Ring: partitions of names, primary and handoff nodes, and reloading the file."""

import os
import struct
import time

import pytest

from oiofs.common.exceptions import RingLoadError
from oiofs.common.fsutils import write_file_atomic
from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring
from tests.support.rings import make_builder, placements
from tests.support.waiting import wait_for

NODE_KEYS = {"id", "region", "zone", "ip", "port", "device", "weight", "meta",
             "replication_ip", "replication_port", "index"}
# Two regions; zones 1-3 in region 1 and 1-2 in region 2; two devices per zone.
LAYOUT = [(1, 1, 100), (1, 1, 100), (1, 2, 100), (1, 2, 100), (1, 3, 100), (1, 3, 100),
          (2, 1, 100), (2, 1, 100), (2, 2, 100), (2, 2, 100)]


def write_ring(directory, layout=LAYOUT, replicas=3, part_power=8, seed=1, name="object"):
    builder = make_builder(layout, replicas=replicas, part_power=part_power)
    builder.rebalance(seed=seed)
    path = os.path.join(str(directory), f"{name}.ring.gz")
    builder.get_ring().save(path)
    return builder, path


def test_open_by_path_or_by_directory_and_name(tmp_path):
    builder, path = write_ring(tmp_path)
    by_path = Ring(path)
    by_dir = Ring(str(tmp_path), ring_name="object")
    assert by_path.serialized_path == by_dir.serialized_path == path
    assert (by_dir.replica_count, by_dir.partition_count, by_dir.part_power) == (3, 256, 8)
    assert by_dir.devs == builder.get_ring().devs
    with pytest.raises(RingLoadError, match="directory"):
        Ring(str(tmp_path))
    with pytest.raises(RingLoadError, match="cannot read ring"):
        Ring(str(tmp_path), ring_name="container")


def test_get_part_is_the_top_bits_of_the_hash(tmp_path):
    _, path = write_ring(tmp_path)
    ring = Ring(path)
    for name in (("a",), ("a", "c"), ("a", "c", "o"), ("AUTH_x", "c", "dir/ü.txt")):
        digest = hash_path(*name, raw_digest=True)
        expected = struct.unpack_from(">I", digest)[0] >> 24
        assert ring.get_part(*name) == expected
        assert ring.get_nodes(*name)[0] == expected
    parts = {ring.get_part("a", "c", f"o{n}") for n in range(2000)}
    assert len(parts) > 240  # names spread over (nearly) all 256 partitions


def test_get_nodes_matches_the_builder(tmp_path):
    builder, path = write_ring(tmp_path)
    ring = Ring(path)
    table = placements(builder)
    for obj in ("o1", "o2", "photo.jpg"):
        part, nodes = ring.get_nodes("AUTH_a", "c", obj)
        assert [n["id"] for n in nodes] == list(table[part])
        assert [n["index"] for n in nodes] == [0, 1, 2]
        for node in nodes:
            assert set(node) == NODE_KEYS
            assert node["device"] == builder.devs[node["id"]]["device"]
    assert [n["id"] for n in ring.get_part_nodes(17)] == list(table[17])


def test_node_dicts_are_copies(tmp_path):
    _, path = write_ring(tmp_path)
    ring = Ring(path)
    nodes = ring.get_part_nodes(3)
    nodes[0]["ip"] = "changed"
    assert ring.get_part_nodes(3)[0]["ip"] != "changed"


def test_a_device_is_listed_once_when_replicas_share_it(tmp_path):
    _, path = write_ring(tmp_path, layout=[(1, 1, 100), (1, 2, 100)], replicas=3)
    ring = Ring(path)
    for part in range(ring.partition_count):
        ids = [n["id"] for n in ring.get_part_nodes(part)]
        assert sorted(ids) == [0, 1]


def test_handoffs_are_new_devices_in_new_domains_first(tmp_path):
    builder, path = write_ring(tmp_path)
    ring = Ring(path)
    for part in range(0, ring.partition_count, 7):
        primaries = ring.get_part_nodes(part)
        handoffs = list(ring.get_more_nodes(part))
        ids = [n["id"] for n in handoffs]
        assert sorted(ids + [n["id"] for n in primaries]) == list(range(10))  # all, once
        assert [n["handoff_index"] for n in handoffs] == list(range(len(handoffs)))
        assert all(n["index"] is None for n in handoffs)
        used_regions = {n["region"] for n in primaries}
        used_zones = {(n["region"], n["zone"]) for n in primaries}
        free_regions = {1, 2} - used_regions
        free_zones = {(d["region"], d["zone"]) for d in builder.devs} - used_zones
        # Unused regions come first, then zones not used so far, then the rest.
        position = 0
        if free_regions:
            assert handoffs[0]["region"] in free_regions
        seen_zones = set(used_zones)
        for node in handoffs[:len(free_zones)]:
            assert (node["region"], node["zone"]) not in seen_zones, (part, ids)
            seen_zones.add((node["region"], node["zone"]))
            position += 1
        assert position == len(free_zones)
        # Same answer every time, from any reader of the same file.
        assert [n["id"] for n in ring.get_more_nodes(part)] == ids
        assert [n["id"] for n in Ring(path).get_more_nodes(part)] == ids


def test_handoffs_are_lazy_and_spread(tmp_path):
    _, path = write_ring(tmp_path, layout=[(1, 1 + n % 4, 100) for n in range(12)])
    ring = Ring(path)
    first = {}
    for part in range(ring.partition_count):
        first[part] = next(ring.get_more_nodes(part))["id"]
    # When a device fails, its partitions' first handoffs land on many devices.
    victim_parts = [p for p in range(256) if 0 in {n["id"] for n in ring.get_part_nodes(p)}]
    assert len({first[p] for p in victim_parts}) >= 6
    with pytest.raises(ValueError):
        ring.get_more_nodes(256)


def test_reload_when_the_file_changes(tmp_path):
    _, path = write_ring(tmp_path, seed=1)
    ring = Ring(path, reload_time=0)
    old = [n["id"] for n in ring.get_part_nodes(5)]
    _, _ = write_ring(tmp_path, layout=LAYOUT[:6], seed=2)
    assert ring.has_changed()
    new = [n["id"] for n in ring.get_part_nodes(5)]
    assert max(new) < 6 and new != old
    assert not ring.has_changed()


def test_no_reload_before_reload_time(tmp_path):
    builder, path = write_ring(tmp_path)
    ring = Ring(path, reload_time=3600)
    before = ring.get_nodes("a", "c", "o")
    write_ring(tmp_path, layout=LAYOUT[:6], seed=2)
    # The hot path does not look at the file again before reload_time.
    assert ring.get_nodes("a", "c", "o") == before
    assert len(ring.devs) == 10
    assert ring.reload() is True
    assert len(ring.devs) == 6


def test_a_bad_new_file_keeps_the_loaded_ring(tmp_path):
    _, path = write_ring(tmp_path)
    ring = Ring(path, reload_time=0)
    before = ring.get_nodes("a", "c", "o")
    write_file_atomic(path, b"garbage")
    assert ring.get_nodes("a", "c", "o") == before
    os.unlink(path)
    assert ring.get_nodes("a", "c", "o") == before
    write_ring(tmp_path, layout=LAYOUT[:6], seed=2)
    assert len(ring.devs) == 6


def test_reload_check_happens_after_reload_time(tmp_path):
    _, path = write_ring(tmp_path)
    ring = Ring(path, reload_time=0.05)
    write_ring(tmp_path, layout=LAYOUT[:6], seed=2)
    wait_for(lambda: len(ring.devs) == 6, 5, "the ring to reload", interval=0.01)


def test_get_nodes_is_cheap(tmp_path):
    _, path = write_ring(tmp_path, part_power=10)
    ring = Ring(path)
    names = [f"obj{n}" for n in range(5000)]
    start = time.process_time()
    for name in names:
        ring.get_nodes("AUTH_test", "bench", name)
    per_call = (time.process_time() - start) / len(names)
    assert per_call < 50e-6, per_call  # a few microseconds in practice

