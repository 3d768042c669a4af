"""oiofs-mount over a local directory, mounted for real through FUSE."""

import errno
import hashlib
import os
import shutil

import pytest

from tests.support.fuse import mounted


def tree(root):
    """Relative path -> sha256 of every file under root (directories as None)."""
    out = {}
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".oiofs"]
        for name in dirs:
            out[os.path.relpath(os.path.join(top, name), root)] = None
        for name in files:
            with open(os.path.join(top, name), "rb") as f:
                out[os.path.relpath(os.path.join(top, name), root)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return out


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dirs(tmp_path):
    for name in ("backing", "mnt", "cache"):
        os.makedirs(tmp_path / name)
    return tmp_path


def test_tree_operations_reach_the_store_and_a_second_mount(dirs):
    backing, mnt = str(dirs / "backing"), str(dirs / "mnt")
    with mounted(mnt, "--local", backing, "--cache-dir", str(dirs / "cache"),
                 "--upload-delay", "3600") as m:
        os.makedirs(m.path("a/b"))
        for i in range(20):
            with open(m.path("a/b", f"f{i}"), "wb") as f:
                f.write(os.urandom(100) * i)
        os.rename(m.path("a/b/f1"), m.path("a/b/renamed"))
        with open(m.path("a/b/f2"), "wb") as f:           # overwrite
            f.write(b"new content")
        with open(m.path("a/b/f3"), "r+b") as f:          # truncate through a handle
            f.truncate(50)
        os.truncate(m.path("a/b/f4"), 7)                 # truncate by path
        os.unlink(m.path("a/b/f5"))
        with open(m.path("a/b/f6"), "ab") as f:           # append
            f.write(b"tail")
        os.makedirs(m.path("gone"))
        os.rmdir(m.path("gone"))
        assert not os.path.exists(os.path.join(backing, "a/b/f2"))  # not uploaded yet
        os.rename(m.path("a/b"), m.path("a/c"))           # directory rename (uploads first)
        with pytest.raises(OSError) as info:
            os.rmdir(m.path("a"))
        assert info.value.errno == errno.ENOTEMPTY
        with open(m.path("a/c/late"), "wb") as f:
            f.write(b"late")
        seen = tree(mnt)
        assert not os.path.exists(os.path.join(backing, "a/c/late"))  # not uploaded yet
    # Unmounted: everything was uploaded first.
    assert tree(backing) == seen
    assert seen["a/c/f2"] == sha(b"new content")
    assert seen["a/c/f6"] == sha(open(os.path.join(backing, "a/c/f6"), "rb").read())
    assert os.path.getsize(os.path.join(backing, "a/c/f3")) == 50
    assert os.path.getsize(os.path.join(backing, "a/c/f4")) == 7
    assert "a/c/f5" not in seen and "a/c/f1" not in seen and "gone" not in seen
    with mounted(str(dirs / "mnt2"), "--local", backing,
                 "--cache-dir", str(dirs / "cache2")) as m2:
        assert tree(m2.mountpoint) == seen


def test_killed_mount_uploads_its_dirty_files_after_remount(dirs):
    backing, mnt, cache = str(dirs / "backing"), str(dirs / "mnt"), str(dirs / "cache")
    with mounted(mnt, "--local", backing, "--cache-dir", cache,
                 "--upload-delay", "3600") as m:
        os.makedirs(m.path("d"))
        with open(m.path("d/synced"), "wb") as f:
            f.write(b"fsynced data")
            f.flush()
            os.fsync(f.fileno())
        with open(m.path("d/closed"), "wb") as f:
            f.write(b"closed data")
        m.kill()
    # the crash left them in the cache: the directory and both files
    assert not os.path.exists(os.path.join(backing, "d"))
    with mounted(mnt, "--local", backing, "--cache-dir", cache) as m:
        assert open(m.path("d/synced"), "rb").read() == b"fsynced data"
    assert open(os.path.join(backing, "d/synced"), "rb").read() == b"fsynced data"
    assert open(os.path.join(backing, "d/closed"), "rb").read() == b"closed data"


def test_stats_config_and_refusals(dirs):
    backing = str(dirs / "backing")
    with mounted(str(dirs / "mnt"), "--local", backing,
                 "--cache-dir", str(dirs / "cache")) as m:
        with open(m.path("f"), "wb") as f:
            f.write(b"x" * 1000)
        assert ".oiofs" in os.listdir(m.mountpoint)
        stats = open(m.path(".oiofs/stats")).read()
        assert "dirty_files: " in stats and "upload_rate_mb_s: " in stats
        config = open(m.path(".oiofs/config")).read()
        assert "store = local" in config and "max_writer_threads = 8" in config
        for bad in (lambda: open(m.path(".oiofs/stats"), "w"),
                    lambda: os.unlink(m.path(".oiofs/config")),
                    lambda: os.mkdir(m.path(".oiofs/x"))):
            with pytest.raises(OSError) as info:
                bad()
            assert info.value.errno == errno.EACCES
        os.chmod(m.path("f"), 0o644)                      # the mode it has: accepted
        with pytest.raises(PermissionError):
            os.chmod(m.path("f"), 0o600)                  # another: refused
        with pytest.raises(FileNotFoundError):
            open(m.path("missing"))
        with pytest.raises(OSError) as info:
            os.symlink("f", m.path("link"))
        assert info.value.errno in (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP)
        shutil.copy(m.path("f"), m.path("g"))
        assert open(m.path("g"), "rb").read() == b"x" * 1000


def test_fuse_threads_keep_their_state_and_stay_few(dirs):
    """Each libfuse worker thread keeps its Python thread state (oiofs/fs/fuse_threads.py):
    under 16 concurrent clients the threads that did so stay few (libfuse keeps its
    workers; at most 10), so no state is left behind by threads that come and go."""
    import threading

    backing = str(dirs / "backing")
    with mounted(str(dirs / "mnt"), "--local", backing,
                 "--cache-dir", str(dirs / "cache")) as m:
        for i in range(16):
            with open(m.path(f"f{i}"), "wb") as f:
                f.write(b"y" * 5000)

        def client(i):
            for _ in range(100):
                os.stat(m.path(f"f{i}"))
                with open(m.path(f"f{i}"), "rb") as f:
                    assert f.read() == b"y" * 5000

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = dict(line.split(": ", 1) for line in
                     open(m.path(".oiofs/stats")).read().splitlines()
                     if ": " in line and not line.startswith("exception"))
        assert 1 <= int(stats["fuse_threads"]) <= 12, stats["fuse_threads"]


def test_chunking_mount_packs_small_files(dirs):
    backing, mnt, cache = str(dirs / "backing"), str(dirs / "mnt"), str(dirs / "cache")
    with mounted(mnt, "--local", backing, "--cache-dir", cache, "--chunking") as m:
        os.makedirs(m.path("d"))
        for i in range(50):
            with open(m.path("d", f"f{i}"), "wb") as f:
                f.write(b"%d" % i * 50)
    stored = os.listdir(os.path.join(backing, "d"))
    assert stored and all(n.startswith(".oiofs-chunk-") for n in stored)
    assert len(stored) < 5                       # 50 files in a few chunks
    with mounted(mnt, "--local", backing, "--cache-dir", cache, "--chunking") as m:
        assert sorted(os.listdir(m.path("d"))) == sorted(f"f{i}" for i in range(50))
        assert open(m.path("d/f7"), "rb").read() == b"7" * 50


def test_new_files_kept_in_memory_behave_like_files(dirs):
    """Files created through the mount start in memory (caching_store.INLINE_MAX): growing past
    the limit, reading while open, a second handle, truncate, rename and fsync of an open
    one, and empty files all behave as on a local disk."""
    from oiofs.fs.caching_store import INLINE_MAX

    backing, mnt, cache = str(dirs / "backing"), str(dirs / "mnt"), str(dirs / "cache")
    big = os.urandom(INLINE_MAX + 5000)
    with mounted(mnt, "--local", backing, "--cache-dir", cache,
                 "--upload-delay", "3600") as m:
        with open(m.path("big"), "wb") as f:             # spills to a cache file midway
            for i in range(0, len(big), 4096):
                f.write(big[i:i + 4096])
        assert open(m.path("big"), "rb").read() == big
        with open(m.path("open"), "w+b") as f:
            f.write(b"hello world")
            f.flush()
            assert os.path.getsize(m.path("open")) == 11
            f.seek(0)
            assert f.read() == b"hello world"           # read through the same handle
            assert open(m.path("open"), "rb").read() == b"hello world"  # a second handle
            f.write(b"!")
            f.flush()
            os.truncate(m.path("open"), 5)                # truncate by path while open
            f.seek(0, os.SEEK_END)
            f.write(b"?")
        assert open(m.path("open"), "rb").read() == b"hello?"
        with open(m.path("moving"), "wb") as f:
            f.write(b"before ")
            f.flush()
            os.rename(m.path("moving"), m.path("moved"))  # renamed while open
            f.write(b"after")
        assert open(m.path("moved"), "rb").read() == b"before after"
        assert not os.path.exists(m.path("moving"))
        open(m.path("empty"), "wb").close()
        fd = os.open(m.path("synced"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"fsynced while open")
        os.fsync(fd)
        m.kill()                                          # killed with the file open
        with pytest.raises(OSError):
            os.close(fd)                                  # the mount is gone
    with mounted(mnt, "--local", backing, "--cache-dir", cache) as m:
        assert open(m.path("synced"), "rb").read() == b"fsynced while open"
        assert os.path.getsize(m.path("empty")) == 0
    expected = {"big": big, "open": b"hello?", "moved": b"before after", "empty": b"",
                "synced": b"fsynced while open"}
    for name, data in expected.items():
        assert open(os.path.join(backing, name), "rb").read() == data, name
    assert not os.path.exists(os.path.join(backing, "moving"))


def test_untar_then_kill_keeps_every_closed_file_with_real_times(dirs):
    """tar's sequence per file (create, writes, fchown, fchmod, close, utimensat) through
    the mount: the attributes read back are real (times of today, not of 1970), and a
    mount killed right after ``tar`` returns loses none of the files it closed (their
    index rows are written at close; the heartbeat's checkpoints are not needed)."""
    import subprocess
    import tarfile
    import time

    backing, mnt, cache = str(dirs / "backing"), str(dirs / "mnt"), str(dirs / "cache")
    src = dirs / "src"
    files = {}
    for i in range(300):
        name = f"d{i % 3}/f{i}"
        files[name] = os.urandom(1 + (i * 977) % 20000)   # inline and cache-file sizes
        os.makedirs(src / f"d{i % 3}", exist_ok=True)
        (src / name).write_bytes(files[name])
    with tarfile.open(dirs / "t.tar", "w") as tar:
        for d in range(3):
            tar.add(src / f"d{d}", arcname=f"d{d}")
    with mounted(mnt, "--local", backing, "--cache-dir", cache,
                 "--upload-delay", "3600") as m:
        started = time.time()
        subprocess.run(["tar", "-xf", str(dirs / "t.tar"), "-C", mnt], check=True)
        st = os.stat(m.path("d1/f1"))
        assert st.st_size == len(files["d1/f1"])
        assert started - 120 < st.st_mtime < time.time() + 120, st.st_mtime
        assert os.stat(m.path("d1")).st_mtime > started - 3600
        os.chown(m.path("d1/f1"), os.getuid(), os.getgid())   # its owner: accepted
        with pytest.raises(PermissionError):
            os.chown(m.path("d1/f1"), os.getuid() + 1, -1)       # another: refused
        m.kill()
    with mounted(mnt, "--local", backing, "--cache-dir", cache):
        pass                                  # the remount uploads, the unmount waits
    for name, data in files.items():
        with open(os.path.join(backing, name), "rb") as f:
            assert f.read() == data, name
