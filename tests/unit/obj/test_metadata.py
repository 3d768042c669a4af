"""The xattr metadata encoding: inline, trailer, limits and corruption."""

import errno
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.exceptions import DiskFileCorrupt, DiskFileMetadataTooLarge
from oiofs.obj.metadata import (
    INLINE_LIMIT,
    MAX_METADATA_SIZE,
    XATTR_NAME,
    dumps_metadata,
    read_metadata,
    read_metadata_path,
    stored_text,
    to_wsgi,
    write_metadata,
)
from tests.support.metadata import BASE, limits_metadata


@pytest.fixture
def data_file(tmp_path):
    """An open file holding 5 bytes of object data."""
    path = str(tmp_path / "obj")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"hello")
    yield fd, path
    os.close(fd)


def test_small_metadata_is_inline(data_file):
    fd, path = data_file
    write_metadata(fd, BASE, 5)
    assert os.fstat(fd).st_size == 5  # no trailer
    assert len(os.getxattr(fd, XATTR_NAME)) <= INLINE_LIMIT
    assert read_metadata(fd) == (BASE, None)
    assert read_metadata_path(path) == (BASE, None)


def test_metadata_at_the_api_limits_goes_to_a_trailer(data_file):
    fd, _path = data_file
    meta = limits_metadata()
    assert len(json.dumps(meta, ensure_ascii=False).encode()) > 4096  # beyond ext4 xattrs
    write_metadata(fd, meta, 5)
    assert os.fstat(fd).st_size > 5
    assert len(os.getxattr(fd, XATTR_NAME)) < 200
    assert read_metadata(fd) == (meta, 5)
    assert os.pread(fd, 5, 0) == b"hello"  # the data is untouched


def test_falls_back_to_the_trailer_when_the_filesystem_has_less_room(data_file):
    fd, _path = data_file
    # fill most of the file's xattr space with another attribute: the inline value
    # no longer fits although it is under INLINE_LIMIT, and setxattr answers ENOSPC
    os.setxattr(fd, "user.other", b"x" * 2500)
    meta = dict(BASE, **{"X-Object-Meta-Big": "v" * 2000})
    write_metadata(fd, meta, 5)
    assert os.fstat(fd).st_size > 5  # the trailer was used
    assert read_metadata(fd) == (meta, 5)


def test_refuses_absurd_sizes(data_file):
    fd, _path = data_file
    with pytest.raises(DiskFileMetadataTooLarge):
        write_metadata(fd, {"k": "v" * MAX_METADATA_SIZE}, 5)


def test_non_ascii_round_trip(data_file):
    fd, _path = data_file
    meta = dict(BASE, name="/a/c/日本語 \u2603", **{"X-Object-Meta-K": "ü\u00e9"})
    write_metadata(fd, meta, 5)
    assert read_metadata(fd)[0] == meta


def corrupt(fd, transform):
    os.setxattr(fd, XATTR_NAME, transform(os.getxattr(fd, XATTR_NAME)))


@pytest.mark.parametrize("transform", [
    lambda v: v[:-1] + bytes([v[-1] ^ 1]),             # flipped bit in the body
    lambda v: v[:10] + b"0" + v[11:],                   # changed checksum digit
    lambda v: b"oiofs9" + v[6:],                        # unknown format
    lambda v: v[:20],                                   # truncated
    lambda v: b"",
])
def test_corrupt_inline_metadata_is_detected(data_file, transform):
    fd, _path = data_file
    write_metadata(fd, BASE, 5)
    corrupt(fd, transform)
    with pytest.raises(DiskFileCorrupt):
        read_metadata(fd)


def test_missing_attribute_is_corrupt(data_file):
    fd, _path = data_file
    with pytest.raises(DiskFileCorrupt):
        read_metadata(fd)


def test_corrupt_trailer_is_detected(data_file):
    fd, _path = data_file
    write_metadata(fd, limits_metadata(), 5)
    os.pwrite(fd, b"X", 10)  # inside the trailer
    with pytest.raises(DiskFileCorrupt):
        read_metadata(fd)


def test_truncated_trailer_is_detected(data_file):
    fd, _path = data_file
    write_metadata(fd, limits_metadata(), 5)
    os.ftruncate(fd, 100)
    with pytest.raises(DiskFileCorrupt):
        read_metadata(fd)


@pytest.mark.parametrize("body", [
    b'[1, 2]', b'{"m": [1]}', b'{"m": {"a": 1}}', b'{"t": [0]}', b'{"t": [-1, 5, "x"]}',
    b'{"t": ["0", 5, "x"]}', b"not json",
])
def test_well_checksummed_but_invalid_bodies_are_corrupt(data_file, body):
    from oiofs.common.hashing import md5
    fd, _path = data_file
    os.setxattr(fd, XATTR_NAME, b"oiofs1 " + md5(body).hexdigest().encode() + b" " + body)
    with pytest.raises(DiskFileCorrupt):
        read_metadata(fd)


def test_errno_of_a_missing_file_propagates(tmp_path):
    with pytest.raises(OSError) as info:
        read_metadata_path(str(tmp_path / "nope"))
    assert info.value.errno == errno.ENOENT


def test_values_that_were_not_utf8_round_trip(data_file):
    # the object server keeps bytes that are not UTF-8 as lone surrogates
    raw = b"\xff\xfe\xc3"
    meta = dict(BASE, **{"X-Object-Meta-Bin": raw.decode("utf-8", "surrogateescape")})
    fd, _path = data_file
    write_metadata(fd, meta, 5)
    back, _ = read_metadata(fd)
    assert back == meta
    assert back["X-Object-Meta-Bin"].encode("utf-8", "surrogateescape") == raw
    # and in the trailer too
    big = dict(meta, **{f"X-Object-Meta-K{i}": "v" * 200 for i in range(20)})
    write_metadata(fd, big, 5)
    assert read_metadata(fd) == (big, 5)


@given(st.binary(max_size=64))
def test_any_header_bytes_survive_storage(raw):
    wsgi = raw.decode("latin-1")
    text = stored_text(wsgi)
    assert json.loads(dumps_metadata({"v": text}))["v"] == text
    assert to_wsgi(text) == wsgi
    if raw.isascii() or _is_utf8(raw):
        assert text == raw.decode("utf-8")  # valid UTF-8 is stored as its text


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
