"""Block checksums: the packed format, streaming computation, checks, and where the list
lies in the file (oiofs.obj.block_checksums, oiofs.obj.metadata)."""

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.common.exceptions import DiskFileCorrupt
from oiofs.obj.block_checksums import (
    BLOCK_SIZE,
    ENTRY_SIZE,
    BlockHasher,
    BlockMismatch,
    BlockVerifier,
    first_difference,
    iter_verified,
    list_length,
)
from oiofs.obj.metadata import (
    BlockRef,
    append_block_list,
    read_header,
    read_metadata,
    write_block_list,
    write_metadata,
)
from tests.support.metadata import BASE, limits_metadata

BS = 16  # a small block size keeps the data of these tests small


def packed_of(data: bytes, block_size: int = BS) -> bytes:
    """The list computed the plain way: one CRC-32 per block, big-endian."""
    return b"".join(zlib.crc32(data[i:i + block_size]).to_bytes(4, "big")
                    for i in range(0, len(data), block_size))


@settings(max_examples=60)
@given(st.binary(max_size=200), st.lists(st.integers(1, 40), max_size=20))
def test_the_hasher_gives_the_same_list_however_the_data_is_cut(data, cuts):
    hasher = BlockHasher(BS)
    pos = 0
    for cut in cuts:
        hasher.update(data[pos:pos + cut])
        pos += cut
    hasher.update(data[pos:])
    assert hasher.packed() == packed_of(data)
    assert len(hasher.packed()) == list_length(len(data), BS)


def test_the_default_block_is_64_kib_and_an_entry_4_bytes():
    assert (BLOCK_SIZE, ENTRY_SIZE) == (65536, 4)
    assert list_length(5 * 1024 ** 3) == 81920 * 4  # a 5 GiB object: a 320 KiB list


@pytest.fixture
def stored(tmp_path):
    """A file holding 100 bytes of data then their list (block size 16); its fd."""
    data = bytes(range(100))
    fd = os.open(str(tmp_path / "f"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, data + packed_of(data))
    yield fd, data
    os.close(fd)


def test_the_verifier_reads_expected_values_and_checks_blocks(stored):
    fd, data = stored
    verifier = BlockVerifier(fd, 100, 100, BS)
    assert verifier.count == 7 and verifier.block_length(6) == 4
    assert verifier.expected(3) == zlib.crc32(data[48:64])
    assert verifier.read_block(6) == data[96:]
    with pytest.raises(BlockMismatch, match="block 2: checksum mismatch"):
        verifier.check(2, data[48:64])  # block 3's bytes at block 2's place
    with pytest.raises(BlockMismatch, match="block 6: 3 bytes read of 4"):
        verifier.check(6, data[96:99])


@pytest.mark.parametrize(("start", "stop"), [(0, 100), (5, 6), (15, 17), (16, 32),
                                             (33, 100), (99, 100)])
@pytest.mark.parametrize("per_read", [1, 3])
def test_iter_verified_gives_exactly_the_range(stored, start, stop, per_read):
    fd, data = stored
    got = b"".join(iter_verified(BlockVerifier(fd, 100, 100, BS), start, stop, per_read))
    assert got == data[start:stop]


def test_iter_verified_stops_before_the_bad_block(stored):
    fd, data = stored
    os.pwrite(fd, b"\xff", 70)  # block 4
    pieces = []
    with pytest.raises(BlockMismatch) as caught:
        for piece in iter_verified(BlockVerifier(fd, 100, 100, BS), 10, 100, 1):
            pieces.append(piece)
    assert caught.value.index == 4
    assert b"".join(pieces) == data[10:64]  # every good byte before it, none after


def test_a_list_cut_short_is_a_mismatch(stored):
    fd, _data = stored
    os.ftruncate(fd, 100 + 6 * 4)  # the last entry is gone
    with pytest.raises(BlockMismatch, match="cut short"):
        BlockVerifier(fd, 100, 100, BS).expected(6)


def test_first_difference_names_the_block():
    assert first_difference(packed_of(b"a" * 40), packed_of(b"a" * 40)) is None
    assert first_difference(packed_of(b"a" * 40), packed_of(b"a" * 33 + b"b" * 7)) == 2
    assert first_difference(packed_of(b"a" * 40), packed_of(b"a" * 32)) == 2


# --- where the list lies (metadata.py) ------------------------------------------------

@pytest.fixture
def data_fd(tmp_path):
    fd = os.open(str(tmp_path / "obj"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 100)
    yield fd
    os.close(fd)


def test_the_list_follows_the_data_and_the_attribute_says_where(data_fd):
    ref = write_block_list(data_fd, 100, packed_of(b"x" * 100), BS)
    write_metadata(data_fd, BASE, 100, ref)
    assert os.fstat(data_fd).st_size == 100 + 7 * 4
    header = read_header(data_fd)
    assert header == (BASE, 100, BlockRef(100, BS, 100))
    assert read_metadata(data_fd) == (BASE, 100)  # the data ends where the list starts


def test_a_trailer_goes_after_the_list(data_fd):
    meta = limits_metadata()
    ref = write_block_list(data_fd, 100, packed_of(b"x" * 100), BS)
    write_metadata(data_fd, meta, 100, ref)
    assert read_header(data_fd) == (meta, 100, ref)
    assert os.pread(data_fd, 28, 100) == packed_of(b"x" * 100)  # the list is intact


def test_a_file_too_short_for_its_list_is_corrupt(data_fd):
    ref = write_block_list(data_fd, 100, packed_of(b"x" * 100), BS)
    write_metadata(data_fd, BASE, 100, ref)
    os.ftruncate(data_fd, 120)
    with pytest.raises(DiskFileCorrupt, match="too short"):
        read_header(data_fd)


def test_a_file_without_a_list_reads_as_before(data_fd):
    write_metadata(data_fd, BASE, 100)
    assert read_header(data_fd) == (BASE, None, None)


@pytest.mark.parametrize("big", [False, True])
def test_appending_a_list_to_an_older_file(data_fd, big):
    meta = limits_metadata() if big else BASE
    write_metadata(data_fd, meta, 100)  # a trailer at 100 when big
    end = os.fstat(data_fd).st_size
    ref = append_block_list(data_fd, packed_of(b"x" * 100), BS, 100)
    assert ref == BlockRef(end, BS, 100)
    assert read_header(data_fd) == (meta, 100, ref)
    verifier = BlockVerifier(data_fd, ref.offset, 100, BS)
    assert b"".join(iter_verified(verifier, 0, 100, 2)) == b"x" * 100
    # rewriting the metadata keeps the list where it is (the commit of an archive)
    write_metadata(data_fd, limits_metadata(), 100, ref)
    assert read_header(data_fd) == (limits_metadata(), 100, ref)
    with pytest.raises(DiskFileCorrupt, match="already"):
        append_block_list(data_fd, packed_of(b"x" * 100), BS, 100)
