"""The cache index's rows of new files (kept in memory until closed) and its checkpoints."""

import os

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
    assert not index.checkpoint_some(min_commits=10, max_age=60)
    assert index.checkpoint_some(min_commits=3)
    assert not index.checkpoint_some(min_commits=3)         # nothing new since
    wal = os.path.join(str(tmp_path), "index.db-wal")
    assert os.path.getsize(os.path.join(str(tmp_path), "index.db")) > 3 * 5000
    assert os.path.exists(wal)
    index.close()
