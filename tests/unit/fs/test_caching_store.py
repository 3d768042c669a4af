"""CachingStore over a LocalStore: write-back, sync, crash safety, freshness, eviction."""

import io
import os
import sqlite3
import time

import pytest

from oiofs.fs.cache_index import MAX_KEPT_BYTES, MAX_KEPT_ROWS
from oiofs.fs.caching_store import CachingStore
from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    IsADirectoryStoreError,
    NoSuchFilesystemObjectError,
)
from oiofs.fs.local_store import LocalStore
from oiofs.fs.store import Store


@pytest.fixture
def backing(tmp_path):
    os.makedirs(tmp_path / "backing")
    return LocalStore(str(tmp_path / "backing"))


def caching(backing, tmp_path, **kw):
    kw.setdefault("start", False)
    return CachingStore(backing, str(tmp_path / "cache"), **kw)


class CountingStore(Store):
    """A LocalStore that counts the calls made to it (a verified wrapper, not a mock)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    def __getattribute__(self, name):
        if name in ("inner", "calls") or name.startswith("__"):
            return object.__getattribute__(self, name)
        self.calls.append(name)
        return getattr(self.inner, name)


def test_writes_return_before_upload_and_sync_uploads(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    store.store_fileobject(io.BytesIO(b"data"), "/d/f")
    assert not backing.exists("/d/f")          # written back later
    assert store.get_file("/d/f") == b"data"
    assert store.get_dirty_files() == ["/d/f"]
    store.sync()
    assert backing.get_file("/d/f") == b"data"
    assert store.get_dirty_files() == []
    assert store.get_uploaded() == 4 / 1e6


def test_upload_delay_then_heartbeat_uploads(backing, tmp_path):
    store = caching(backing, tmp_path, upload_delay=3600)
    store.store_fileobject(io.BytesIO(b"x"), "/f")
    store.run_once()
    store._pool.shutdown(wait=True)
    assert not backing.exists("/f")            # too recent for a heartbeat
    store2 = caching(backing, tmp_path / "other", upload_delay=0)
    store2.store_fileobject(io.BytesIO(b"y"), "/g")
    store2.run_once()
    store2._pool.shutdown(wait=True)
    assert backing.get_file("/g") == b"y"


def test_dirty_entries_survive_a_crash(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.store_fileobject(io.BytesIO(b"survives"), "/f")
    store.index.checkpoint()
    del store                                   # never closed, never synced: a crash
    again = caching(backing, tmp_path)
    assert again.get_dirty_files() == ["/f"]
    again.sync()
    assert backing.get_file("/f") == b"survives"


def test_orphan_data_file_is_removed(backing, tmp_path):
    store = caching(backing, tmp_path)
    orphan = os.path.join(store.index.data_dir, "deadbeef")
    open(orphan, "wb").close()
    caching(backing, tmp_path)
    assert not os.path.exists(orphan)


def test_newer_version_replaces_clean_expired_entry(backing, tmp_path):
    backing.store_fileobject(io.BytesIO(b"v1"), "/f")
    backing.touch("/f", time.time() - 100)
    store = caching(backing, tmp_path, cache_expiration=0)
    assert store.get_file("/f") == b"v1"
    assert store.get_cache_misses() == 1
    assert store.get_file("/f") == b"v1"          # expired but not newer: kept
    assert store.get_cache_hits() == 1
    backing.store_fileobject(io.BytesIO(b"v2"), "/f")
    assert store.get_file("/f") == b"v2"


def test_dirty_entry_is_never_replaced(backing, tmp_path):
    store = caching(backing, tmp_path, cache_expiration=0)
    store.store_fileobject(io.BytesIO(b"local"), "/f")
    backing.store_fileobject(io.BytesIO(b"remote"), "/f")
    assert store.get_file("/f") == b"local"


def test_listing_merges_unuploaded_files_and_costs_one_call(backing, tmp_path):
    backing.create_directory("/d")
    for name in "abc":
        backing.store_fileobject(io.BytesIO(name.encode()), f"/d/{name}")
    counting = CountingStore(backing)
    store = caching(counting, tmp_path)
    store.store_fileobject(io.BytesIO(b"new"), "/d/z")
    listing = store.get_directory_listing_with_metadata("/d")
    assert sorted(listing) == ["/d/a", "/d/b", "/d/c", "/d/z"]
    counting.calls.clear()
    for path in listing:
        store.get_metadata(path)
    assert counting.calls == []        # every getattr answered from the listing


def test_delete_and_rmdir(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    store.store_fileobject(io.BytesIO(b"1"), "/d/uploaded")
    store.sync()
    store.store_fileobject(io.BytesIO(b"2"), "/d/local-only")
    with pytest.raises(DirectoryNotEmptyError):
        store.delete("/d", is_dir=True)
    store.delete("/d/uploaded")
    store.delete("/d/local-only")
    assert not backing.exists("/d/uploaded")
    with pytest.raises(NoSuchFilesystemObjectError):
        store.get_file("/d/local-only")
    store.delete("/d", is_dir=True)
    assert not backing.exists("/d")
    store.sync()
    assert not backing.exists("/d/local-only")


def test_move_dirty_clean_and_directory(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    store.store_fileobject(io.BytesIO(b"clean"), "/d/clean")
    store.sync()
    store.store_fileobject(io.BytesIO(b"dirty"), "/d/dirty")
    store.move("/d/clean", "/d/clean2")
    store.move("/d/dirty", "/d/dirty2")
    assert backing.get_file("/d/clean2") == b"clean" and not backing.exists("/d/clean")
    store.store_fileobject(io.BytesIO(b"late"), "/d/late")
    store.move("/d", "/e")
    assert sorted(backing.get_directory_listing("/e")) == ["/e/clean2", "/e/dirty2", "/e/late"]
    store.sync()
    assert backing.get_file("/e/dirty2") == b"dirty"
    assert store.get_file("/e/late") == b"late"
    assert not backing.exists("/d")


def test_lru_eviction_keeps_dirty_entries(backing, tmp_path):
    store = caching(backing, tmp_path, cache_size_mb=0.0015)     # 1500 bytes
    for i in range(3):
        store.store_fileobject(io.BytesIO(b"x" * 1000), f"/f{i}")
    store.run_once()
    assert store.get_cachesize() == 0.003        # all dirty: nothing evicted
    store.sync()
    store.run_once()
    assert store.get_cachesize() <= 0.0015
    assert store.get_file("/f0") == b"x" * 1000  # evicted entries come back from the store


def test_writes_wait_past_the_hard_limit(backing, tmp_path):
    store = caching(backing, tmp_path, cache_size_mb=0.001, hard_cache_size_mb=0.002)
    for i in range(4):
        store.store_fileobject(io.BytesIO(b"y" * 1000), f"/f{i}")
    # Each write past 2000 bytes first forced the earlier files out.
    assert store.get_cachesize() <= 0.003
    assert backing.exists("/f0")


def test_failed_upload_is_logged_and_retried(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    store.sync()                               # the directory is made in the store
    store.store_fileobject(io.BytesIO(b"1"), "/d/f")
    os.rmdir(backing.root + "/d")              # the store lost the directory
    with pytest.raises(Exception, match="not uploaded"):
        store.sync(timeout=1)
    assert store.get_exception_stats()["NoSuchFilesystemObjectError"].count >= 1
    os.mkdir(backing.root + "/d")
    store.sync(timeout=10)
    assert backing.get_file("/d/f") == b"1"


def test_configuration(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.set_configuration({"max_writer_threads": "3", "upload_delay": 2})
    assert store.get_configuration()["max_writer_threads"] == 3
    with pytest.raises(Exception, match="unknown"):
        store.set_configuration({"nope": 1})


def test_heartbeat_thread_uploads_and_close_flushes(backing, tmp_path):
    store = caching(backing, tmp_path, start=True, upload_delay=3600)
    store.store_fileobject(io.BytesIO(b"z"), "/f")
    assert store.get_time_since_heartbeat() < 5
    store.close()
    assert backing.get_file("/f") == b"z"


def test_close_with_an_unreachable_store_keeps_dirty_files(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    store.sync()
    store.store_fileobject(io.BytesIO(b"kept"), "/d/f")
    os.rmdir(backing.root + "/d")              # every upload now fails
    store.close(timeout=1)                     # returns, logs, keeps the file
    os.mkdir(backing.root + "/d")
    again = caching(backing, tmp_path)
    assert again.get_dirty_files() == ["/d/f"]
    again.sync(timeout=10)
    assert backing.get_file("/d/f") == b"kept"


# --- files created inline (data kept in the index row, no cache file) ---------------


def test_inline_file_is_uploaded_from_the_index(backing, tmp_path):
    store = caching(backing, tmp_path)
    assert store.create_file("/f", inline=True) == ""
    assert os.listdir(store.index.data_dir) == []          # no cache file was made
    store.save_inline("/f", b"inline data")
    store.release_inline("/f")
    assert store.get_metadata("/f")["bytes"] == 11
    store.sync()
    assert backing.get_file("/f") == b"inline data"
    assert os.listdir(store.index.data_dir) == []


def test_saved_inline_data_survives_a_crash_and_a_row_never_saved_does_not(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_file("/saved", inline=True)
    store.save_inline("/saved", b"kept")
    store.create_file("/open", inline=True)     # row not committed until some save
    store.index._db.close()                     # the process dies here (no commit, no close)
    again = caching(backing, tmp_path)
    assert again.get_dirty_files() == ["/saved"]
    again.sync()
    assert backing.get_file("/saved") == b"kept"
    assert not backing.exists("/open")


def test_inline_file_gets_a_real_file_when_one_is_needed(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_file("/f", inline=True)
    store.save_inline("/f", b"abc")
    local = store.spill_inline("/f", b"abcdef")    # grew past the inline limit
    with open(local, "r+b") as f:
        f.seek(6)
        f.write(b"ghi")
    store.release_write("/f")
    assert store.get_file("/f") == b"abcdefghi"
    store.sync()
    assert backing.get_file("/f") == b"abcdefghi"
    # a closed inline file read through a path: written out once, same content
    store.create_file("/g", inline=True)
    store.save_inline("/g", b"read me")
    store.release_inline("/g")
    with open(store.local_file("/g"), "rb") as f:
        assert f.read() == b"read me"
    assert store.get_dirty_files() == ["/g"]
    store.sync()
    assert backing.get_file("/g") == b"read me"


def test_inline_row_renamed_deleted_and_reopened_index(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/d")
    for name in ("a", "b"):
        store.create_file(f"/d/{name}", inline=True)
        store.save_inline(f"/d/{name}", name.encode() * 3)
        store.release_inline(f"/d/{name}")
    store.move("/d/a", "/d/moved")
    store.delete("/d/b")
    store.close()
    again = caching(backing, tmp_path)              # the mirror is rebuilt from sqlite
    assert sorted(again.get_directory_listing("/d")) == ["/d/moved"]
    assert again.get_file("/d/moved") == b"aaa"
    assert backing.get_file("/d/moved") == b"aaa"
    assert not backing.exists("/d/b")


def test_index_of_an_older_cache_dir_gains_the_data_column(backing, tmp_path):
    import sqlite3

    os.makedirs(tmp_path / "cache")
    db = sqlite3.connect(str(tmp_path / "cache" / "index.db"))
    db.execute("CREATE TABLE entries (path TEXT PRIMARY KEY, parent TEXT NOT NULL, file TEXT "
               "NOT NULL, dirty INTEGER NOT NULL, generation INTEGER NOT NULL, size INTEGER "
               "NOT NULL, modified REAL NOT NULL, updated REAL NOT NULL, accessed REAL NOT "
               "NULL, remote_modified REAL NOT NULL, in_store INTEGER NOT NULL)")
    db.commit()
    db.close()
    store = caching(backing, tmp_path)
    store.create_file("/f", inline=True)
    store.save_inline("/f", b"new")
    store.release_inline("/f")
    store.sync()
    assert backing.get_file("/f") == b"new"


def test_uploads_wait_while_files_are_being_written(backing, tmp_path):
    store = caching(backing, tmp_path, upload_delay=0.3, max_upload_delay=3600)
    store.store_fileobject(io.BytesIO(b"first"), "/first")
    time.sleep(0.35)                       # /first has been left alone long enough...
    store.create_file("/second", inline=True)   # ...but writing goes on
    store.save_inline("/second", b"second")
    store.release_inline("/second")
    store.run_once()
    store._pool.shutdown(wait=True)
    assert not backing.exists("/first")    # the writer is busy: uploads wait
    store._pool = __import__("concurrent.futures").futures.ThreadPoolExecutor(2)
    time.sleep(0.35)                       # writing paused
    store.run_once()
    store._pool.shutdown(wait=True)
    assert backing.get_file("/first") == b"first"
    assert backing.get_file("/second") == b"second"


def test_closed_files_stay_in_the_close_log_while_writing_goes_on(backing, tmp_path):
    """The heartbeat moves closed files' rows into sqlite (a transaction, holding the
    index's lock every create and close waits for) only once writing pauses or past a
    bound on the data kept in memory."""
    store = caching(backing, tmp_path, upload_delay=0.3, max_upload_delay=3600)
    log = tmp_path / "cache" / "closes.log"

    def in_sqlite():
        db = sqlite3.connect(tmp_path / "cache" / "index.db")
        try:
            return db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        finally:
            db.close()

    for i in range(3):
        store.create_file(f"/f{i}", inline=True)
        store.save_inline(f"/f{i}", b"%d" % i * 100)
        store.release_inline(f"/f{i}")
        store.run_once()                       # heartbeats while writing goes on
        store.index.write_logged(MAX_KEPT_BYTES, MAX_KEPT_ROWS)
    assert log.stat().st_size > 300 and in_sqlite() == 0
    assert store.get_metadata("/f2")["bytes"] == 100      # seen all along
    assert not store.index.write_logged(max_bytes=10000, max_rows=3)
    assert store.index.write_logged(max_bytes=10000, max_rows=2)    # past a bound
    assert log.stat().st_size == 0 and in_sqlite() == 3
    store.create_file("/g", inline=True)
    store.save_inline("/g", b"g")
    store.release_inline("/g")
    store.run_once()
    assert log.stat().st_size > 0 and in_sqlite() == 3
    time.sleep(0.35)                           # writing paused
    store.run_once()                           # its query for uploads moves the rows
    assert log.stat().st_size == 0 and in_sqlite() == 4
    store.close()
    assert backing.get_file("/g") == b"g" and backing.get_file("/f1") == b"1" * 100


def test_small_downloads_are_kept_inline_and_big_ones_in_files(backing, tmp_path):
    from oiofs.fs.caching_store import INLINE_MAX

    backing.store_fileobject(io.BytesIO(b"small"), "/small")
    big = os.urandom(INLINE_MAX + 1)
    backing.store_fileobject(io.BytesIO(big), "/big")
    store = caching(backing, tmp_path)
    assert store.read_inline("/small") == b"small"           # downloaded into the index
    assert store.get_cache_misses() == 1
    assert store.read_inline("/small") == b"small"           # then a hit
    assert store.get_cache_hits() == 1
    assert store.read_inline("/big") is None                 # a cache file instead
    with open(store.local_file("/big"), "rb") as f:
        assert f.read() == big
    assert len(os.listdir(store.index.data_dir)) == 1


# --- directories written back -------------------------------------------------------


def test_mkdir_is_written_back_outer_directories_first(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/a")
    store.create_directory("/a/b")
    store.store_fileobject(io.BytesIO(b"deep"), "/a/b/f")
    assert not os.path.exists(os.path.join(backing.root, "a"))   # not in the store yet
    assert store.get_metadata("/a/b")["is_dir"]
    assert store.get_directory_listing("/a") == ["/a/b"]
    assert store.get_directory_listing_with_metadata("/a/b")["/a/b/f"]["bytes"] == 4
    assert store.get_pending_directories() == ["/a", "/a/b"]
    assert store.get_dirty_files() == ["/a/b/f"]
    with pytest.raises(AlreadyExistsError):
        store.create_directory("/a/b")
    with pytest.raises(IsADirectoryStoreError):
        store.store_fileobject(io.BytesIO(b"x"), "/a/b")
    with pytest.raises(IsADirectoryStoreError):
        store.get_file("/a")
    # The file's upload alone makes the directories above it first (a local store
    # needs them), outermost first.
    assert store._upload("/a/b/f", raise_errors=True)
    assert backing.get_file("/a/b/f") == b"deep"
    assert store.get_pending_directories() == []
    assert store.get_metadata("/a/b")["is_dir"]


def test_mkdir_checks_the_store_for_the_name(backing, tmp_path):
    os.mkdir(os.path.join(backing.root, "there"))
    with open(os.path.join(backing.root, "file"), "wb") as out:
        out.write(b"x")
    store = caching(backing, tmp_path)
    for name in ("/there", "/file"):
        with pytest.raises(AlreadyExistsError):
            store.create_directory(name)
    assert store.get_pending_directories() == []


def test_rmdir_and_rename_of_a_directory_not_in_the_store_yet(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/gone")
    store.delete("/gone", is_dir=True)
    assert not store.exists("/gone") and store.get_pending_directories() == []
    store.create_directory("/d")
    store.create_directory("/d/sub")
    store.store_fileobject(io.BytesIO(b"1"), "/d/sub/f")
    with pytest.raises(DirectoryNotEmptyError):
        store.delete("/d", is_dir=True)
    store.create_directory("/other")
    with pytest.raises(IsADirectoryStoreError):
        store.move("/d/sub/f", "/other")      # a file over a directory
    store.move("/d", "/e")                    # made and uploaded first, then moved
    assert backing.get_file("/e/sub/f") == b"1"
    assert not os.path.exists(os.path.join(backing.root, "d"))
    store.move("/e/sub/f", "/other/f")        # into a directory still waiting
    assert backing.get_file("/other/f") == b"1"
    store.sync()
    assert store.get_pending_directories() == [] and store.get_dirty_files() == []


def test_a_killed_process_keeps_its_new_directories(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/kept")
    store.create_directory("/kept/empty")
    store.store_fileobject(io.BytesIO(b"k"), "/kept/f")
    # No close(): the next store over the same cache directory is what a remount after
    # a kill finds (the rows are in the close log, written when create_directory
    # returned).
    again = caching(backing, tmp_path)
    assert again.get_pending_directories() == ["/kept", "/kept/empty"]
    again.sync()
    assert os.path.isdir(os.path.join(backing.root, "kept/empty"))
    assert backing.get_file("/kept/f") == b"k"


def test_a_directory_made_meanwhile_by_another_client_is_no_error(backing, tmp_path):
    store = caching(backing, tmp_path)
    store.create_directory("/both")
    os.mkdir(os.path.join(backing.root, "both"))   # another client, after our check
    store.sync()
    assert store.get_pending_directories() == [] and backing.is_dir("/both")
