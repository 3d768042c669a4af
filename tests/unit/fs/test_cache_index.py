"""The cache index's rows of new files (kept in memory until closed) and its checkpoints."""

import os
import time

from oiofs.fs.cache_index import INLINE, CacheIndex


def test_a_new_files_row_reaches_sqlite_with_its_data_at_close(tmp_path):
    index = CacheIndex(str(tmp_path))
    index.put(index.new_entry("/d/new", dirty=True, file=INLINE), commit=False)
    assert index.get("/d/new") is not None                  # seen at once in memory
    assert CacheIndex(str(tmp_path)).get("/d/new") is None  # a crash now loses it (open)
    assert index.store_inline("/d/new", b"closed data")
    # Another process opening the directory (as after a kill) finds row and data.
    reopened = CacheIndex(str(tmp_path))
    row = reopened.get("/d/new")
    assert row is not None and row.dirty and row.size == 11
    assert reopened.inline_content("/d/new") == b"closed data"
    assert [e.path for e in reopened.dirty()] == ["/d/new"]


def test_statements_see_rows_not_written_yet(tmp_path):
    index = CacheIndex(str(tmp_path))
    index.put(index.new_entry("/d/a", dirty=True, file=INLINE), commit=False)
    index.put(index.new_entry("/d/b", dirty=True, file=INLINE), commit=False)
    assert sorted(e.path for e in index.children("/d")) == ["/d/a", "/d/b"]
    index.store_inline("/d/b", b"b")
    index.mark_clean("/d/b", index.get("/d/b").generation, 1.0)
    assert [e.path for e in index.dirty()] == ["/d/a"]
    assert index.remove("/d/a") is not None
    index.close()
    reopened = CacheIndex(str(tmp_path))
    assert [e.path for e in reopened.all()] == ["/d/b"]
    assert reopened.inline_content("/d/b") == b"b"


def test_checkpoint_some_copies_the_wal_when_enough_has_changed(tmp_path):
    index = CacheIndex(str(tmp_path))
    assert not index.checkpoint_some()                      # nothing committed
    for i in range(3):
        index.put(index.new_entry(f"/f{i}", dirty=True, file=INLINE), commit=False)
        index.store_inline(f"/f{i}", b"x" * 5000)
    assert not index.checkpoint_some()                      # still in the close log
    assert index.write_logged()
    assert not index.checkpoint_some(min_commits=10, max_age=60)
    assert index.checkpoint_some(min_commits=3)
    assert not index.checkpoint_some(min_commits=3)         # nothing new since
    wal = os.path.join(str(tmp_path), "index.db-wal")
    assert os.path.getsize(os.path.join(str(tmp_path), "index.db")) > 3 * 5000
    assert os.path.exists(wal)
    index.close()


def test_closed_files_survive_a_kill_through_the_close_log(tmp_path):
    """Rows of closed new files wait in the close log, not in sqlite; a process that dies
    then (nothing closed, no heartbeat) leaves them for the next index to replay."""
    index = CacheIndex(str(tmp_path))
    for i in range(5):
        index.put(index.new_entry(f"/d/f{i}", dirty=True, file=INLINE), commit=False)
        index.store_inline(f"/d/f{i}", b"%d" % i * 1000)
    assert os.path.getsize(tmp_path / "closes.log") > 5000
    # The same directory opened again while the first index lives on: as after a kill.
    reopened = CacheIndex(str(tmp_path))
    assert sorted(e.path for e in reopened.dirty()) == [f"/d/f{i}" for i in range(5)]
    assert reopened.inline_content("/d/f3") == b"3" * 1000
    assert os.path.getsize(tmp_path / "closes.log") == 0
    reopened.close()


def test_a_statement_writes_the_logged_rows_and_empties_the_log(tmp_path):
    index = CacheIndex(str(tmp_path))
    for i in range(3):
        index.put(index.new_entry(f"/d/f{i}", dirty=True, file=INLINE), commit=False)
        index.store_inline(f"/d/f{i}", b"%d" % i * 1000)
    index.store_inline("/d/f1", b"again")          # a second save: logged again
    assert os.path.getsize(tmp_path / "closes.log") > 3000
    assert index.inline_content("/d/f1") == b"again"
    assert os.path.getsize(tmp_path / "closes.log") == 0
    assert index.inline_content("/d/f2") == b"2" * 1000
    index.close()
    assert CacheIndex(str(tmp_path)).inline_content("/d/f1") == b"again"


def test_a_torn_or_stale_record_is_not_replayed(tmp_path):
    index = CacheIndex(str(tmp_path))
    index.put(index.new_entry("/a", dirty=True, file=INLINE), commit=False)
    index.store_inline("/a", b"old")
    with open(tmp_path / "closes.log", "rb") as f:
        stale = f.read()
    index.mark_changed("/a", 3)                    # sqlite now has a later generation
    index.put(index.new_entry("/b", dirty=True, file=INLINE), commit=False)
    index.store_inline("/b", b"b" * 100)
    with open(tmp_path / "closes.log", "rb") as f:
        torn = f.read()[:-10]                      # killed in the middle of an append
    with open(tmp_path / "closes.log", "wb") as f:
        f.write(stale + torn)
    reopened = CacheIndex(str(tmp_path))
    assert reopened.get("/b") is None              # its close() never returned
    assert reopened.get("/a").generation == index.get("/a").generation
    assert reopened.get("/a").generation > 2       # not the stale record's


def test_a_query_of_older_rows_leaves_the_kept_ones_in_the_close_log(tmp_path):
    index = CacheIndex(str(tmp_path))
    index.put(index.new_entry("/old", dirty=True, file=INLINE), commit=False)
    index.store_inline("/old", b"o")
    index.write_logged()                                 # /old is in sqlite
    before = time.time()
    time.sleep(0.01)
    index.put(index.new_entry("/new", dirty=True, file=INLINE), commit=False)
    index.store_inline("/new", b"n")
    assert [e.path for e in index.dirty(before)] == ["/old"]
    assert os.path.getsize(tmp_path / "closes.log") > 0    # not written for that
    assert [e.path for e in index.dirty(time.time())] == ["/old", "/new"]
    assert os.path.getsize(tmp_path / "closes.log") == 0   # written to be seen
