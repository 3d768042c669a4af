"""The object auditor on fragment archives: each fragment's pyeclib checksum and index are
checked besides the archive's MD5 (docs/erasure-coding.md)."""

import os
import time

import pytest

from oiofs.common.hashing import md5
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.auditor import FULL, ObjectAuditor
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.metadata import read_metadata_path, write_metadata
from tests.support.clock import Clock
from tests.support.log_lines import LogLines as Log

SEG = 4096
NOW = time.time()




@pytest.fixture
def policy():
    POLICIES.load({"storage-policy:0": {"name": "gold", "default": "yes"},
                   "storage-policy:1": {"name": "ec", "policy_type": "erasure_coding",
                                        "ec_num_data_fragments": "4",
                                        "ec_num_parity_fragments": "2",
                                        "ec_object_segment_size": str(SEG)}})
    yield POLICIES.get_by_index(1)
    POLICIES.load({})


def store_archive(devices, policy, body: bytes, index: int = 2) -> str:
    """Archive ``index`` of ``body`` written and committed as the object server does."""
    manager = DiskFileManager({"devices": devices, "fsync_in_threads": "false"}, Log())
    df = manager.get_diskfile("sda", "5", "a", "c", "o", policy)
    segments = [body[i:i + SEG] for i in range(0, len(body), SEG)] or [b""]
    archive = b"".join(policy.driver.encode(s)[index] for s in segments)
    stamp = Timestamp(NOW - 10)
    with df.create(len(archive)) as writer:
        writer.write(archive)
        writer.put({"X-Timestamp": stamp.internal, "Content-Type": "x/y",
                    "ETag": md5(archive).hexdigest(), "Content-Length": str(len(archive)),
                    "name": df.name, "X-Object-Sysmeta-Ec-Frag-Index": str(index),
                    "X-Object-Sysmeta-Ec-Segment-Size": str(SEG)}, frag_index=index)
    df.commit(stamp, index, {"X-Object-Sysmeta-Ec-Etag": md5(body).hexdigest(),
                             "X-Object-Sysmeta-Ec-Content-Length": str(len(body))})
    return os.path.join(df.hash_dir, f"{stamp.internal}#{index}#d.data")


def full_pass(devices):
    clock = Clock()
    daemon = ObjectAuditor({"devices": devices}, logger=Log(), clock=clock,
                           sleep=clock.sleep)
    daemon.run_once(mode=FULL)
    return daemon.last_stats[0]


def test_a_good_archive_passes(devices, policy):
    path = store_archive(devices, policy, os.urandom(3 * SEG + 100))
    stats = full_pass(devices)
    assert (stats.files, stats.quarantined) == (1, 0)
    assert stats.bytes == read_metadata_path(path)[1]  # the data, not its checksum list


def test_a_fragment_whose_checksum_fails_is_quarantined_even_with_a_matching_md5(
        devices, policy):
    path = store_archive(devices, policy, os.urandom(3 * SEG + 100))
    with open(path, "r+b") as handle:  # a byte inside the second fragment's payload
        handle.seek(policy.driver.get_segment_info(SEG, SEG)["fragment_size"] + 100)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 1]))
    metadata, length = read_metadata_path(path)
    with open(path, "rb") as handle:
        data = handle.read(int(metadata["Content-Length"]))
    metadata["ETag"] = md5(data).hexdigest()  # only pyeclib's checksum can tell now
    fd = os.open(path, os.O_RDWR)
    try:  # and no block checksums (a file written before them), which would tell too
        write_metadata(fd, metadata, len(data))
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
    stats = full_pass(devices)
    assert stats.quarantined == 1
    assert not os.path.exists(path)


def test_an_archive_whose_length_disagrees_with_its_footers_is_quarantined(devices, policy):
    path = store_archive(devices, policy, os.urandom(SEG + 1))
    metadata, _ = read_metadata_path(path)
    metadata["X-Object-Sysmeta-Ec-Content-Length"] = str(5 * SEG)
    fd = os.open(path, os.O_RDWR)
    try:  # a file without block checksums, as written before them
        write_metadata(fd, metadata, int(metadata["Content-Length"]))
        os.ftruncate(fd, int(metadata["Content-Length"]))
    finally:
        os.close(fd)
    assert full_pass(devices).quarantined == 1
