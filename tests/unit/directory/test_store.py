"""The two stores keep the same promises: get, scan in key order, atomic update, delete."""

import threading

import pytest

from oiofs.directory.store import SqliteStore


def test_get_update_delete(store):
    assert store.get("service", "a") is None
    assert store.update("service", "a", lambda old: {"n": 1}) == {"n": 1}
    assert store.get("service", "a") == {"n": 1}
    assert store.get("reference", "a") is None  # namespaces are apart
    assert store.delete("service", "a") is True
    assert store.delete("service", "a") is False
    assert store.get("service", "a") is None


def test_update_returning_none_keeps_the_record(store):
    store.update("service", "a", lambda old: {"n": 1})
    assert store.update("service", "a", lambda old: None) == {"n": 1}
    assert store.update("service", "b", lambda old: None) is None
    assert store.get("service", "b") is None


def test_update_that_raises_writes_nothing(store):
    store.update("service", "a", lambda old: {"n": 1})

    def fail(old):
        old["n"] = 2
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.update("service", "a", fail)
    assert store.get("service", "a") == {"n": 1}


def test_scan_prefix_in_key_order(store):
    for key in ("object/b", "object/a", "container/a", "object*/x"):
        store.update("service", key, lambda old, key=key: {"key": key})
    assert [r["key"] for r in store.scan("service", "object/")] == ["object/a", "object/b"]
    assert [r["key"] for r in store.scan("service", "object*")] == ["object*/x"]
    assert len(store.scan("service")) == 4
    assert store.scan("reference") == []


def test_sqlite_concurrent_increments_are_not_lost(tmp_path):
    path = str(tmp_path / "d.db")
    SqliteStore(path).update("seq", "k", lambda old: {"n": 0})

    def bump():
        own = SqliteStore(path)  # one connection per thread, like separate workers
        for _ in range(50):
            own.update("seq", "k", lambda old: {"n": old["n"] + 1})
        own.close()

    threads = [threading.Thread(target=bump) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SqliteStore(path).get("seq", "k") == {"n": 150}


def test_sqlite_survives_reopen(tmp_path):
    path = str(tmp_path / "d.db")
    first = SqliteStore(path)
    first.update("reference", "X", lambda old: {"kept": True})
    first.close()
    assert SqliteStore(path).get("reference", "X") == {"kept": True}


def test_sqlite_forked_child_uses_its_own_connection(tmp_path):
    """A store made before a fork (the directory app is made before its workers fork)
    works in the child, and the parent still works after the child wrote."""
    import os

    store = SqliteStore(str(tmp_path / "d.db"))
    store.update("service", "parent", lambda old: {"by": "parent"})
    pid = os.fork()
    if pid == 0:  # the child: write through the inherited store, then leave at once
        code = 1
        try:
            store.update("service", "child", lambda old: {"by": "child"})
            code = 0 if store._db is not None and store._pid == os.getpid() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r["by"] for r in store.scan("service")] == ["child", "parent"]
