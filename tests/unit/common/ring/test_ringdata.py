"""The ring file format: deterministic bytes, atomic writes, and refusal of bad files."""

import gzip
import json
import os
import struct
from array import array

import pytest

from oiofs.common.exceptions import RingLoadError
from oiofs.common.ring import RingData
from oiofs.common.ring.ringdata import MAGIC
from tests.support.rings import make_builder


@pytest.fixture
def ring():
    builder = make_builder([(1, z, 100) for z in range(1, 6)], part_power=6)
    builder.rebalance(seed=1)
    return builder.get_ring()


def test_round_trip(tmp_path, ring):
    path = str(tmp_path / "object.ring.gz")
    ring.save(path)
    loaded = RingData.load(path)
    assert loaded.devs == ring.devs
    assert loaded.replica2part2dev_id == ring.replica2part2dev_id
    assert (loaded.part_shift, loaded.part_power, loaded.replica_count,
            loaded.partition_count, loaded.version) == (26, 6, 3, 64, 1)
    assert os.listdir(tmp_path) == ["object.ring.gz"]


def test_identical_content_gives_identical_bytes(tmp_path, ring):
    first, second = str(tmp_path / "a.ring.gz"), str(tmp_path / "b.ring.gz")
    ring.save(first)
    os.utime(first, (1, 1))
    ring.save(second)
    with open(first, "rb") as one, open(second, "rb") as two:
        assert one.read() == two.read()
    raw = ring.to_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime field
    assert raw[3] & 0x08 == 0  # no file name stored
    copy = RingData([array("H", t) for t in ring.replica2part2dev_id], list(ring.devs),
                    ring.part_shift, ring.version)
    assert copy.to_bytes() == raw
    copy.replica2part2dev_id[0][0] = copy.replica2part2dev_id[1][0]
    assert copy.to_bytes() != raw


def test_layout_is_a_json_header_then_little_endian_tables(ring):
    raw = gzip.decompress(ring.to_bytes())
    assert raw.startswith(MAGIC)
    (length,) = struct.unpack_from(">I", raw, len(MAGIC))
    header = json.loads(raw[len(MAGIC) + 4:len(MAGIC) + 4 + length])
    assert header["part_power"] == 6 and header["part_shift"] == 26
    assert header["replica_count"] == 3 and len(header["devs"]) == 5
    tables = raw[len(MAGIC) + 4 + length:]
    assert len(tables) == 3 * 64 * 2
    assert struct.unpack_from("<H", tables, 2 * 5)[0] == ring.replica2part2dev_id[0][5]
    assert b"pickle" not in raw and b"\x80\x04" not in raw[:2]


def _mangle(ring, change):
    raw = bytearray(gzip.decompress(ring.to_bytes()))
    change(raw)
    return gzip.compress(bytes(raw), mtime=0)


def _with_header(ring, edit):
    def change(raw):
        (length,) = struct.unpack_from(">I", raw, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(raw[start:start + length])
        edit(header)
        new = json.dumps(header).encode()
        raw[len(MAGIC):start + length] = struct.pack(">I", len(new)) + new
    return _mangle(ring, change)


@pytest.mark.parametrize("make_bad, message", [
    (lambda ring: b"not gzip at all", "not a gzip ring file"),
    (lambda ring: gzip.compress(b"PICKLE!!" + b"\0" * 20), "bad magic"),
    (lambda ring: _mangle(ring, lambda raw: raw.__delitem__(slice(-2, None))),
     "table size"),
    (lambda ring: _mangle(ring, lambda raw: raw.__setitem__(slice(8, 12), b"\xff" * 4)),
     "truncated or bad ring header"),
    (lambda ring: _mangle(ring, lambda raw: raw.__setitem__(-1, 0x7f)), "unknown devices"),
    (lambda ring: _with_header(ring, lambda h: h.update(part_shift=3)), "part_shift"),
    (lambda ring: _with_header(ring, lambda h: h.pop("devs")), "bad ring header"),
    (lambda ring: _with_header(ring, lambda h: h["devs"][1].pop("port")), "lacks port"),
    (lambda ring: _with_header(ring, lambda h: h["devs"][1].update(id=4)), "malformed"),
])
def test_bad_files_are_refused(tmp_path, ring, make_bad, message):
    path = tmp_path / "bad.ring.gz"
    path.write_bytes(make_bad(ring))
    with pytest.raises(RingLoadError, match=message):
        RingData.load(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(RingLoadError, match="cannot read ring"):
        RingData.load(str(tmp_path / "nope.ring.gz"))
