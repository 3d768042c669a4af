"""Where the directory keeps its state: one small interface, two real implementations.

Everything the directory stores is a JSON object under ``(namespace, key)``: the
conscience keeps one record per service (namespace ``service``), the references one per
reference (namespace ``reference``). The interface is five calls:

* :meth:`DirectoryStore.get` -- one record or ``None``;
* :meth:`DirectoryStore.scan` -- the records of a namespace whose key starts with a prefix,
  in key order;
* :meth:`DirectoryStore.update` -- read, change and write one record atomically: the
  ``change`` function gets the current record (or ``None``) and returns the new one, or
  ``None`` to leave it as it is; it may raise to abort (nothing is written);
* :meth:`DirectoryStore.delete` -- remove one record (``True`` if it was there);
* :meth:`DirectoryStore.close`.

:class:`SqliteStore` (``store = sqlite``, the default) keeps one sqlite file in WAL mode
with ``synchronous = FULL``: a change is fsynced before :meth:`update` returns.
:class:`RedisStore` (``store = redis``) keeps one hash per namespace in a shared Redis, so
that several directory instances serve one cluster; :meth:`update` is a ``WATCH``/``MULTI``
transaction retried when another instance changed the namespace meanwhile.

>>> store = SqliteStore(":memory:")
>>> store.update("service", "object/127.0.0.1:6200", lambda old: {"score": 90})
{'score': 90}
>>> [r["score"] for r in store.scan("service", "object/")]
[90]
"""

from __future__ import annotations

import json
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import redis

from oiofs.common.exceptions import ConfigError
from oiofs.common.redis_conn import RedisConnection, translate_redis_errors

Record = dict[str, Any]
Change = Callable[[Record | None], Record | None]

#: how many times a Redis transaction is retried when another writer got in between
REDIS_RETRIES = 20


class DirectoryStore(ABC):
    """The storage interface of the directory (see the module's docstring)."""

    @abstractmethod
    def get(self, namespace: str, key: str) -> Record | None:
        """The record stored under ``key``, or ``None``."""

    @abstractmethod
    def scan(self, namespace: str, prefix: str = "") -> list[Record]:
        """Every record of ``namespace`` whose key starts with ``prefix``, in key order."""

    @abstractmethod
    def update(self, namespace: str, key: str, change: Change) -> Record | None:
        """Apply ``change`` to the record atomically; the record as stored afterwards."""

    @abstractmethod
    def delete(self, namespace: str, key: str) -> bool:
        """Remove the record; ``True`` if there was one."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""


class SqliteStore(DirectoryStore):
    """Records in one sqlite database (WAL, every commit fsynced)."""

    def __init__(self, path: str):
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        # connect (and create the table) now: a bad path fails at start, not at a request
        self._connection: sqlite3.Connection | None = self._connect()
        self._pid = os.getpid()

    @property
    def _db(self) -> sqlite3.Connection:
        """This process's connection: one opened before a fork (the app is made before
        the workers fork) must not be used by the children, so each opens its own."""
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._connect()
            self._pid = os.getpid()
        return self._connection

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: in WAL mode the log is fsynced at every commit, so a change answered is
        # on disk; NORMAL would only sync at checkpoints.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE IF NOT EXISTS record (namespace TEXT NOT NULL, "
                   "key TEXT NOT NULL, value TEXT NOT NULL, "
                   "PRIMARY KEY (namespace, key)) WITHOUT ROWID")
        return db

    def get(self, namespace: str, key: str) -> Record | None:
        row = self._db.execute("SELECT value FROM record WHERE namespace = ? AND key = ?",
                               (namespace, key)).fetchone()
        return None if row is None else _decode(row[0])

    def scan(self, namespace: str, prefix: str = "") -> list[Record]:
        rows = self._db.execute(
            "SELECT key, value FROM record WHERE namespace = ? AND substr(key, 1, ?) = ? "
            "ORDER BY key", (namespace, len(prefix), prefix))
        return [_decode(value) for _key, value in rows]

    def update(self, namespace: str, key: str, change: Change) -> Record | None:
        db = self._db
        # IMMEDIATE takes the write lock first: two processes cannot both read the old
        # record and then both write. Nothing in between yields to another green thread
        # of this process (sqlite calls do not), so they cannot interleave either.
        db.execute("BEGIN IMMEDIATE")
        try:
            old = self.get(namespace, key)
            new = change(None if old is None else dict(old))
            if new is not None:
                db.execute("INSERT OR REPLACE INTO record (namespace, key, value) "
                           "VALUES (?, ?, ?)", (namespace, key, _encode(new)))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return new if new is not None else old

    def delete(self, namespace: str, key: str) -> bool:
        cursor = self._db.execute("DELETE FROM record WHERE namespace = ? AND key = ?",
                                  (namespace, key))
        return cursor.rowcount > 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class RedisStore(DirectoryStore):
    """Records in a shared Redis: one hash ``<prefix><namespace>`` per namespace."""

    def __init__(self, conf: dict[str, Any]):
        self.conn = RedisConnection(conf)
        self.prefix = conf.get("redis_key_prefix", "oiofs:directory:")

    def _hash(self, namespace: str) -> str:
        return f"{self.prefix}{namespace}"

    @translate_redis_errors
    def get(self, namespace: str, key: str) -> Record | None:
        value = self.conn.client.hget(self._hash(namespace), key)
        return None if value is None else _decode(value)

    @translate_redis_errors
    def scan(self, namespace: str, prefix: str = "") -> list[Record]:
        found: dict[str, str] = {}
        for field, value in self.conn.client.hscan_iter(
                self._hash(namespace), match=_glob_escape(prefix) + "*", count=500):
            found[field] = value
        return [_decode(found[k]) for k in sorted(found)]

    @translate_redis_errors
    def update(self, namespace: str, key: str, change: Change) -> Record | None:
        name = self._hash(namespace)
        with self.conn.client.pipeline() as pipe:
            for _ in range(REDIS_RETRIES):
                try:
                    pipe.watch(name)
                    raw = pipe.hget(name, key)
                    old = None if raw is None else _decode(raw)
                    new = change(None if old is None else dict(old))
                    if new is None:
                        pipe.unwatch()
                        return old
                    pipe.multi()
                    pipe.hset(name, key, _encode(new))
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
        raise StoreBusy(f"{namespace}/{key} kept changing under {REDIS_RETRIES} attempts")

    @translate_redis_errors
    def delete(self, namespace: str, key: str) -> bool:
        return bool(self.conn.client.hdel(self._hash(namespace), key))

    def close(self) -> None:
        self.conn.close()


class StoreBusy(Exception):
    """A record could not be changed: other writers kept changing it (503)."""


def _encode(record: Record) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _decode(text: str | bytes) -> Record:
    value: Record = json.loads(text)
    return value


def _glob_escape(text: str) -> str:
    """``text`` with Redis glob characters escaped (for ``HSCAN ... MATCH``).

    >>> _glob_escape("a*b?[c]")
    'a\\\\*b\\\\?\\\\[c\\\\]'
    """
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


STORES = ("sqlite", "redis")


def make_store(conf: dict[str, Any]) -> DirectoryStore:
    """The store named by ``store`` (``sqlite``: at ``db_path``; ``redis``: ``redis_url``
    and the other Redis options of ``docs/account-service.md``)."""
    kind = conf.get("store", "sqlite")
    if kind == "sqlite":
        return SqliteStore(conf.get("db_path", "/var/lib/oiofs/directory/directory.db"))
    if kind == "redis":
        return RedisStore(conf)
    raise ConfigError(f"store = {kind!r}: one of {', '.join(STORES)}")
