"""Suffix invalidation records under the hashes.invalid flock."""

import fcntl
import os
import threading

from oiofs.obj.hashes import HASHES_INVALID, consolidate_invalidations, invalidate_hash


def test_invalidations_are_recorded_and_consolidated(tmp_path):
    part = tmp_path / "objects" / "7"
    part.mkdir(parents=True)
    for suffix in ("abc", "def", "abc"):
        invalidate_hash(str(part / suffix))
    assert (part / HASHES_INVALID).read_text() == "abc\ndef\nabc\n"
    assert consolidate_invalidations(str(part)) == ["abc", "def"]
    assert (part / HASHES_INVALID).read_text() == ""
    assert consolidate_invalidations(str(part)) == []
    assert consolidate_invalidations(str(tmp_path / "missing")) == []


def test_writers_wait_for_the_lock(tmp_path):
    part = tmp_path / "7"
    part.mkdir()
    path = str(part / HASHES_INVALID)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    writer = threading.Thread(target=invalidate_hash, args=(str(part / "abc"),))
    writer.start()
    writer.join(0.2)
    assert writer.is_alive()  # blocked on the lock held by a consolidation
    assert os.path.getsize(path) == 0
    os.close(fd)  # releases the lock
    writer.join(10)
    assert not writer.is_alive()
    assert consolidate_invalidations(str(part)) == ["abc"]
