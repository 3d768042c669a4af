import os
import threading

import pytest

from oiofs.common import fsutils
from oiofs.common.exceptions import LockTimeout


def test_write_file_atomic_replaces_content(tmp_path):
    target = tmp_path / "f"
    fsutils.write_file_atomic(str(target), b"one")
    fsutils.write_file_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]  # no temp file left behind


def test_renamer_creates_parent(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"x")
    dst = tmp_path / "a" / "b" / "dst"
    fsutils.renamer(str(src), str(dst))
    assert dst.read_bytes() == b"x" and not src.exists()


def test_mkdirs_durable(tmp_path):
    path = tmp_path / "x" / "y" / "z"
    fsutils.mkdirs_durable(str(path), str(tmp_path))
    assert path.is_dir()
    assert fsutils.mkdirs(str(path)) is False


def test_lock_path_excludes_other_holders(tmp_path):
    held = threading.Event()
    release = threading.Event()

    def holder():
        with fsutils.lock_path(str(tmp_path)):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)
    try:
        with pytest.raises(LockTimeout):
            with fsutils.lock_path(str(tmp_path), timeout=0.1):
                pass
    finally:
        release.set()
        thread.join()
    with fsutils.lock_path(str(tmp_path), timeout=1):
        pass


def test_remove_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert fsutils.remove_file(str(path)) is True
    assert fsutils.remove_file(str(path)) is False
