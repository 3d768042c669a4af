"""``DatabaseBroker``: one sqlite database per container or account, and what they share.

On disk a database is ``<devices>/<dev>/<datadir>/<part>/<suffix>/<hash>/<hash>.db`` with
``datadir`` ``containers`` or ``accounts``, ``hash`` the path hash of the account (and
container) and ``suffix`` its last three hex digits. Next to it, ``<hash>.db.pending``
holds row updates waiting to be merged (see :mod:`oiofs.common.db.pending`).

Every database has:

* a ``<db_type>_stat`` table with one row: timestamps (``created_at``, ``put_timestamp``,
  ``delete_timestamp``, ``status_changed_at``), ``hash`` (XOR of its rows' hashes, equal on
  replicas that hold the same rows), ``id`` (unique per replica), ``status`` and
  ``metadata`` (JSON ``{name: [value, timestamp]}``);
* a rows table (``object`` or ``container``) whose ``ROWID`` only grows: a changed row is
  deleted and inserted again, so replication can send "every row after ROWID n";
* ``incoming_sync``/``outgoing_sync`` tables of replication sync points per peer.

Subclasses (:class:`oiofs.container.backend.ContainerBroker`,
:class:`oiofs.account.backend.AccountBroker`) define the schema of their stat and rows
tables, how items merge, and listings. Timestamps are stored in their internal text form,
which sorts like the timestamps themselves.

A broker may be kept and reused across requests: it holds one cached connection and
reopens it when the file is replaced (checked by inode on each use).

Past 600 lines on purpose: the stat, metadata, pending-merge, replication-sync and reclaim
methods all work inside the transactions of the one cached connection this class owns;
split over modules they would each need that discipline again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

from oiofs.common.db.connection import (
    DEFAULT_BUSY_TIMEOUT,
    connect,
    is_corruption,
    is_full,
    is_locked,
    preallocate,
)
from oiofs.common.db.pending import DEFAULT_PENDING_CAP, PendingFile
from oiofs.common.exceptions import (
    DbAlreadyExists,
    DbError,
    DbLockTimeout,
    DbNotFound,
    DbQuarantined,
    DiskFileNoSpace,
)
from oiofs.common.fsutils import fsync_dir, mkdirs_durable
from oiofs.common.hashing import hash_path
from oiofs.common.timestamp import Timestamp, TimestampValue

ZERO_TIMESTAMP = Timestamp(0).internal


def db_dir_for(devices: str, device: str, datadir: str, partition: int | str, account: str,
               container: str | None = None) -> tuple[str, str]:
    """``(directory, db file)`` of the database of ``account[/container]`` on a device."""
    name_hash = hash_path(account, container)
    directory = os.path.join(devices, device, datadir, str(partition), name_hash[-3:],
                             name_hash)
    return directory, os.path.join(directory, name_hash + ".db")


def zero_like(count: object) -> bool:
    """True for a count that means "nothing" (``None``, ``''``, ``0``, ``'0'``)."""
    return count in (None, "", 0, "0")


class DatabaseBroker:
    """Common operations of container and account databases; subclass per db type."""

    #: ``container`` or ``account``: the stat table is ``<db_type>_stat``
    db_type = ""
    #: ``object`` or ``container``: the rows table
    db_contains_type = ""
    #: the rows-table column compared with ``age_timestamp`` by :meth:`reclaim`
    db_reclaim_timestamp = "created_at"
    #: the rows-table columns of a replicated item (``ROWID`` is added)
    item_columns: tuple[str, ...] = ()

    def __init__(self, db_file: str, timeout: float = DEFAULT_BUSY_TIMEOUT,
                 logger: logging.Logger | None = None,
                 account: str | None = None, container: str | None = None,
                 pending_timeout: float | None = None, stale_reads_ok: bool = False,
                 fsync: Callable[[int], None] = os.fsync,
                 pending_cap: int = DEFAULT_PENDING_CAP, db_preallocation: bool = False):
        self.db_file = db_file
        self.db_dir = os.path.dirname(db_file)
        self.pending_file = db_file + ".pending"
        self.timeout = timeout
        self.stale_reads_ok = stale_reads_ok
        self.logger = logger or logging.getLogger("oiofs.db")
        self.account = account
        self.container = container
        self.db_preallocation = db_preallocation
        self._pending = PendingFile(self.pending_file,
                                    10.0 if pending_timeout is None else pending_timeout,
                                    pending_cap, fsync)
        self._conn: sqlite3.Connection | None = None
        self._conn_key: tuple[int, int] | None = None
        # (the database file's stat key, is_deleted) of the last is_deleted() query;
        # dropped whenever this broker uses its connection (see is_deleted)
        self._deleted_cache: tuple[tuple[int, ...], bool] | None = None

    @property
    def pending_timeout(self) -> float:
        """Seconds to wait for the pending file's lock (then ``DbLockTimeout``)."""
        return self._pending.lock_timeout

    @pending_timeout.setter
    def pending_timeout(self, value: float) -> None:
        self._pending.lock_timeout = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.db_file!r})"

    # --- connections and errors -----------------------------------------------------

    def close(self) -> None:
        """Close the cached connection (a later call reopens it)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._conn_key = None

    def _connection(self) -> sqlite3.Connection:
        try:
            st = os.stat(self.db_file)
        except FileNotFoundError:
            self.close()
            raise DbNotFound(f"DB {self.db_file} does not exist") from None
        key = (st.st_dev, st.st_ino)
        if self._conn is None or self._conn_key != key:
            self.close()
            try:
                self._conn = connect(self.db_file, self.timeout)
            except sqlite3.DatabaseError as err:
                self._raise_translated(err)
            self._conn_key = key
        return self._conn

    @contextlib.contextmanager
    def get(self) -> Iterator[sqlite3.Connection]:
        """The database's connection for a ``with`` block; sqlite errors translated.

        A transaction left open by an error is rolled back. Corruption quarantines the
        database (:class:`DbQuarantined`), lock contention raises :class:`DbLockTimeout`,
        a full disk :class:`DiskFileNoSpace`.
        """
        self._deleted_cache = None  # this use may change what is_deleted() answers
        conn = self._connection()
        try:
            yield conn
        except BaseException as err:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.DatabaseError):
                self._raise_translated(err)
            raise

    def _raise_translated(self, err: sqlite3.DatabaseError) -> NoReturn:
        if is_locked(err):
            raise DbLockTimeout(f"{self.db_file}: {err}") from err
        if is_full(err):
            raise DiskFileNoSpace(f"{self.db_file}: {err}") from err
        if is_corruption(err):
            self.quarantine(str(err))
        raise DbError(f"{self.db_file}: {err}") from err

    def quarantine(self, reason: str) -> NoReturn:
        """Move the database's directory to ``<dev>/quarantined/<db_type>s/`` and raise.

        Corrupt databases are never deleted: replication restores a good copy from a peer,
        and the bad one stays for a human to look at. Always raises :class:`DbQuarantined`.
        """
        self.close()
        device_dir = os.path.abspath(os.path.join(self.db_dir, "..", "..", "..", ".."))
        target_dir = os.path.join(device_dir, "quarantined", self.db_type + "s")
        target = os.path.join(target_dir, os.path.basename(self.db_dir))
        mkdirs_durable(target_dir, os.path.dirname(device_dir))
        if os.path.exists(target):
            target += "-" + uuid.uuid4().hex
        try:
            os.rename(self.db_dir, target)
        except FileNotFoundError:
            raise DbQuarantined(f"{self.db_file} already moved away ({reason})") from None
        # both directories changed: fsync both or the move may be half lost after a crash
        fsync_dir(target_dir)
        fsync_dir(os.path.dirname(self.db_dir))
        self.logger.error("Quarantined %s to %s: %s", self.db_dir, target, reason)
        raise DbQuarantined(f"Quarantined {self.db_dir} to {target} due to {reason}")

    # --- creation ---------------------------------------------------------------------

    def initialize(self, put_timestamp: TimestampValue = None, **kwargs: Any) -> None:
        """Create the database; :class:`DbAlreadyExists` if it is there already.

        The database is built and committed (fsynced) in a temporary file, then linked to
        its name and the directory fsynced: a half-created database is never visible, and
        of two concurrent creators exactly one wins (``link`` refuses an existing name).
        ``kwargs`` go to the subclass (``storage_policy_index`` for containers).
        """
        if os.path.exists(self.db_file):
            raise DbAlreadyExists(self.db_file)
        put_timestamp = Timestamp(put_timestamp or 0).internal
        device_dir = os.path.abspath(os.path.join(self.db_dir, "..", "..", "..", ".."))
        mkdirs_durable(self.db_dir, device_dir)
        tmp = os.path.join(self.db_dir, f".{os.path.basename(self.db_file)}."
                                        f"{uuid.uuid4().hex}.tmp")
        try:
            conn = connect(tmp, self.timeout)
            try:
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute("BEGIN")
                for statement in self._sync_tables_sql():
                    conn.execute(statement)
                self._initialize(conn, put_timestamp, **kwargs)
                conn.execute("COMMIT")  # synchronous=FULL: the content is on disk now
            finally:
                conn.close()
            try:
                os.link(tmp, self.db_file)
            except FileExistsError:
                raise DbAlreadyExists(self.db_file) from None
        except sqlite3.DatabaseError as err:
            if is_full(err):
                raise DiskFileNoSpace(str(err)) from err
            raise DbError(f"cannot create {self.db_file}: {err}") from err
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFileNoSpace(str(err)) from err
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        # the new name (and the temporary one's removal) must survive a crash
        fsync_dir(self.db_dir)

    @staticmethod
    def _sync_tables_sql() -> list[str]:
        return [
            f"CREATE TABLE {kind}_sync (remote_id TEXT UNIQUE, sync_point INTEGER, "
            f"updated_at INTEGER DEFAULT 0)"
            for kind in ("incoming", "outgoing")
        ]

    def _initialize(self, conn: sqlite3.Connection, put_timestamp: str, **kwargs: Any
                    ) -> None:
        """Create the subclass's tables and stat row (inside the creating transaction)."""
        raise NotImplementedError

    # --- status -----------------------------------------------------------------------

    def exists(self) -> bool:
        """True if the database file is there."""
        return os.path.exists(self.db_file)

    def _is_deleted(self, conn: sqlite3.Connection) -> bool:
        raise NotImplementedError

    def is_deleted(self) -> bool:
        """True if there is no database, or it is marked deleted (see subclasses).

        Asked once per object row a container server records, so the answer is kept
        while the database file stays the same (inode, size, modification and change
        times) and this broker did not use its connection since: a query costs sqlite's
        file locks and a read of the header, a ``stat`` much less. Since Linux 6.13 a write
        after a ``stat`` always gets a new modification time; on older kernels a change
        another process commits within the same clock tick (a few milliseconds) after the
        query, without changing the size, may be seen late: the row being recorded could
        then land in a just-deleted container's pending file, as it already can when that
        deletion commits between this check and the append.
        """
        try:
            st = os.stat(self.db_file)
        except FileNotFoundError:
            return True
        key = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._deleted_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            with self.get() as conn:
                deleted = self._is_deleted(conn)
        except DbNotFound:
            return True
        self._deleted_cache = (key, deleted)
        return deleted

    def empty(self) -> bool:
        """True if the database holds no live rows."""
        raise NotImplementedError

    def get_info(self) -> dict[str, Any]:
        """The stat row and counts as a dict (after merging pending updates)."""
        raise NotImplementedError

    def get_info_is_deleted(self) -> tuple[dict[str, Any], bool]:
        """``(get_info(), is_deleted)``; ``({}, True)`` when there is no database."""
        if not self.exists():
            return {}, True
        try:
            info = self.get_info()
        except DbNotFound:
            return {}, True
        return info, self._is_deleted_info(info)

    def _is_deleted_info(self, info: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _set_stat(self, assignments: str, where: str, params: tuple[object, ...]) -> None:
        with self.get() as conn:
            conn.execute(f"UPDATE {self.db_type}_stat SET {assignments} WHERE {where}",
                         params)

    def update_put_timestamp(self, timestamp: TimestampValue) -> None:
        """Raise ``put_timestamp`` to ``timestamp`` if that is newer."""
        ts = Timestamp(timestamp).internal
        self._set_stat("put_timestamp = ?", "put_timestamp < ?", (ts, ts))

    def update_status_changed_at(self, timestamp: TimestampValue) -> None:
        """Raise ``status_changed_at`` to ``timestamp`` if that is newer."""
        ts = Timestamp(timestamp).internal
        self._set_stat("status_changed_at = ?", "status_changed_at < ?", (ts, ts))

    def delete_db(self, timestamp: TimestampValue) -> None:
        """Mark the database deleted at ``timestamp``; its user metadata is cleared."""
        ts = Timestamp(timestamp).internal
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            metadata = self._load_metadata(conn)
            cleared = {key: ["", ts] for key in metadata}
            self._merge_metadata(conn, metadata, cleared)
            conn.execute(
                f"UPDATE {self.db_type}_stat SET delete_timestamp = ?, status = 'DELETED', "
                f"status_changed_at = ? WHERE delete_timestamp < ?", (ts, ts, ts))
            conn.execute("COMMIT")

    def is_reclaimable(self, now: float, reclaim_age: float) -> bool:
        """True if the database is deleted and has been for longer than ``reclaim_age``."""
        info, deleted = self.get_info_is_deleted()
        if not info or not deleted:
            return False
        return float(Timestamp(info["delete_timestamp"])) < now - reclaim_age

    # --- metadata ---------------------------------------------------------------------

    def _load_metadata(self, conn: sqlite3.Connection) -> dict[str, Any]:
        row = conn.execute(f"SELECT metadata FROM {self.db_type}_stat").fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    @property
    def metadata(self) -> dict[str, Any]:
        """``{name: [value, timestamp]}``; an empty value is a deletion (until reclaimed)."""
        with self.get() as conn:
            return self._load_metadata(conn)

    def _merge_metadata(self, conn: sqlite3.Connection, metadata: dict[str, Any],
                        updates: dict[str, Any],
                        validate: Callable[[dict[str, Any]], None] | None = None) -> bool:
        changed = False
        for key, (value, timestamp) in updates.items():
            ts = Timestamp(timestamp)
            if key not in metadata or ts > Timestamp(metadata[key][1]):
                metadata[key] = [value, ts.internal]
                changed = True
        if changed:
            if validate is not None:
                validate(metadata)
            conn.execute(f"UPDATE {self.db_type}_stat SET metadata = ?",
                         (json.dumps(metadata, ensure_ascii=False),))
        return changed

    def update_metadata(self, updates: dict[str, Any],
                        validate: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Merge ``{name: (value, timestamp)}`` into the metadata, newest timestamp winning.

        ``validate`` is called with the merged metadata before it is written (inside the
        transaction, so concurrent updates cannot together pass a limit) and may raise to
        refuse it. Returns True if anything changed.
        """
        if not updates:
            return False
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            changed = self._merge_metadata(conn, self._load_metadata(conn), updates,
                                           validate)
            conn.execute("COMMIT")
        return changed

    # --- pending updates and merges -----------------------------------------------------

    def _record_to_entry(self, record: dict[str, Any]) -> list[Any]:
        """A record as a compact pending-file entry (subclass)."""
        raise NotImplementedError

    def _entry_to_record(self, entry: list[Any]) -> dict[str, Any]:
        raise NotImplementedError

    def put_record(self, record: dict[str, Any]) -> None:
        """Durably queue one row update: one fsynced append to the pending file.

        Raises :class:`DbNotFound` if there is no database.
        """
        self.put_records([record])

    def put_records(self, records: list[dict[str, Any]]) -> None:
        """Durably queue several row updates at once: one fsynced append for all.

        Raises :class:`DbNotFound` if there is no database.
        """
        if not self.exists():
            raise DbNotFound(f"DB {self.db_file} does not exist")
        self._pending.add_many([self._record_to_entry(record) for record in records],
                               self._merge_entries)
        self._log_bad_entries()

    def _merge_entries(self, entries: list[Any]) -> None:
        records = []
        for entry in entries:
            try:
                records.append(self._entry_to_record(entry))
            except (TypeError, ValueError, KeyError, IndexError):
                # one unreadable entry must not block every later merge of this database
                self.logger.error("%s: skipped malformed pending entry %r", self.db_file,
                                  entry)
        self.merge_items(records)

    def _log_bad_entries(self) -> None:
        if self._pending.last_bad_entries:
            self.logger.warning("%s: skipped %d unreadable pending entries", self.db_file,
                                self._pending.last_bad_entries)
            self._pending.last_bad_entries = 0

    def commit_pending(self, stale_ok: bool | None = None) -> None:
        """Merge the pending file into sqlite.

        With ``stale_ok`` (default: the broker's ``stale_reads_ok``) a pending file locked
        by another process longer than ``pending_timeout`` is left for later, and reads go
        on with what sqlite has; otherwise :class:`DbLockTimeout` is raised.
        """
        if stale_ok is None:
            stale_ok = self.stale_reads_ok
        try:
            self._pending.flush(self._merge_entries)
        except DbLockTimeout:
            if not stale_ok:
                raise
        except FileNotFoundError:
            raise DbNotFound(f"DB {self.db_file} does not exist") from None
        self._log_bad_entries()

    def _merge_items(self, conn: sqlite3.Connection, items: list[dict[str, Any]]) -> None:
        """Merge items into the rows table and the stats (subclass; in a transaction)."""
        raise NotImplementedError

    def merge_items(self, items: list[dict[str, Any]], source: str | None = None) -> None:
        """Merge rows (newest wins, see subclasses) in one transaction.

        With ``source`` (a peer's database id) the items come from replication, in ROWID
        order with no gaps: the incoming sync point of that peer moves to the last ROWID.
        """
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            if items:
                self._merge_items(conn, items)
            if source and items:
                self._merge_syncs(conn, [{"remote_id": source,
                                          "sync_point": items[-1]["ROWID"]}], True)
            conn.execute("COMMIT")
        if self.db_preallocation:
            preallocate(self.db_file)

    def get_items_since(self, start: int, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` rows with ``ROWID > start`` in ROWID order, as dicts."""
        self.commit_pending()
        columns = ("ROWID",) + self.item_columns
        with self.get() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(columns)} FROM {self.db_contains_type} "
                f"WHERE ROWID > ? ORDER BY ROWID LIMIT ?", (start, count)).fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def get_max_row(self) -> int:
        """The largest ROWID ever used in the rows table, or -1."""
        with self.get() as conn:
            return self._max_row(conn)

    def _max_row(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                           (self.db_contains_type,)).fetchone()
        return row[0] if row else -1

    # --- replication ------------------------------------------------------------------

    def get_sync(self, remote_id: str, incoming: bool = True) -> int:
        """The sync point recorded for peer ``remote_id``, or -1."""
        table = "incoming_sync" if incoming else "outgoing_sync"
        with self.get() as conn:
            row = conn.execute(f"SELECT sync_point FROM {table} WHERE remote_id = ?",
                               (remote_id,)).fetchone()
        return row[0] if row else -1

    def get_syncs(self, incoming: bool = True) -> list[dict[str, Any]]:
        """Every recorded sync point: ``[{'remote_id', 'sync_point'}]``."""
        table = "incoming_sync" if incoming else "outgoing_sync"
        with self.get() as conn:
            rows = conn.execute(f"SELECT remote_id, sync_point FROM {table}").fetchall()
        return [{"remote_id": r[0], "sync_point": r[1]} for r in rows]

    @staticmethod
    def _merge_syncs(conn: sqlite3.Connection, sync_points: list[dict[str, Any]],
                     incoming: bool) -> None:
        table = "incoming_sync" if incoming else "outgoing_sync"
        now = int(time.time())
        for rec in sync_points:
            cur = conn.execute(
                f"UPDATE {table} SET sync_point = max(?, sync_point), updated_at = ? "
                f"WHERE remote_id = ?", (rec["sync_point"], now, rec["remote_id"]))
            if cur.rowcount < 1:
                conn.execute(f"INSERT INTO {table} (remote_id, sync_point, updated_at) "
                             f"VALUES (?, ?, ?)", (rec["remote_id"], rec["sync_point"], now))

    def merge_syncs(self, sync_points: list[dict[str, Any]], incoming: bool = True) -> None:
        """Record sync points ``[{'remote_id', 'sync_point'}]``; a point never goes back."""
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._merge_syncs(conn, sync_points, incoming)
            conn.execute("COMMIT")

    def newid(self, remote_id: str) -> None:
        """Give this replica a new ``id`` after it was copied from ``remote_id``.

        The copy holds every row of the source up to now, so the source's incoming sync
        point is set to our current maximum ROWID.
        """
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO incoming_sync (remote_id, sync_point, "
                         "updated_at) VALUES (?, ?, ?)",
                         (remote_id, self._max_row(conn), int(time.time())))
            self._newid(conn)
            conn.execute("COMMIT")

    def _newid(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE {self.db_type}_stat SET id = ?", (str(uuid.uuid4()),))

    def get_replication_info(self) -> dict[str, Any]:
        """What a replicator compares with a peer: hashes, timestamps, counts, max row.

        Keys: ``hash, id, created_at, put_timestamp, delete_timestamp, status_changed_at,
        count, max_row, metadata`` (the metadata as its stored JSON text).
        """
        self.commit_pending()
        info = self.get_info()
        with self.get() as conn:
            max_row = self._max_row(conn)
            row = conn.execute(f"SELECT metadata FROM {self.db_type}_stat").fetchone()
        return {
            "hash": info["hash"], "id": info["id"], "created_at": info["created_at"],
            "put_timestamp": info["put_timestamp"],
            "delete_timestamp": info["delete_timestamp"],
            "status_changed_at": info["status_changed_at"],
            "count": info[f"{self.db_contains_type}_count"], "max_row": max_row,
            "metadata": row[0] if row and row[0] else "",
            # which name this is (the replicator checks the partition) and its status
            "account": info.get("account"), "container": info.get("container"),
            "status": info.get("status") or "",
        }

    def merge_remote_state(self, info: dict[str, Any], remote: dict[str, Any]) -> bool:
        """Merge what a subclass keeps of a replica's state besides its metadata and
        timestamps (a container's storage policy); True if anything changed here.

        ``info`` is our replication info, ``remote`` the replica's (both as they were
        before this sync). Nothing by default.
        """
        return False

    def merge_timestamps(self, created_at: TimestampValue, put_timestamp: TimestampValue,
                         delete_timestamp: TimestampValue,
                         deleted_status: bool = False) -> bool:
        """Merge a replica's timestamps into ours; True if anything changed.

        Keeps the oldest ``created_at`` and the newest put and delete timestamps. With
        ``deleted_status`` (the replica was marked deleted by a DELETE) this database is
        marked so too when its merged delete timestamp is the newer one.
        ``status_changed_at`` moves to now when the merge changed whether the database is
        deleted.
        """
        created = Timestamp(created_at).internal
        put = Timestamp(put_timestamp).internal
        delete = Timestamp(delete_timestamp).internal
        table = f"{self.db_type}_stat"
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            was_deleted = self._is_deleted(conn)
            changed = conn.execute(
                f"UPDATE {table} SET created_at = min(?, created_at), "
                "put_timestamp = max(?, put_timestamp), "
                "delete_timestamp = max(?, delete_timestamp) "
                "WHERE created_at > ? OR put_timestamp < ? OR delete_timestamp < ?",
                (created, put, delete, created, put, delete)).rowcount > 0
            if deleted_status:
                changed |= conn.execute(
                    f"UPDATE {table} SET status = 'DELETED' WHERE "
                    "delete_timestamp > put_timestamp AND status <> 'DELETED'").rowcount > 0
            if changed and self._is_deleted(conn) != was_deleted:
                conn.execute(f"UPDATE {table} SET status_changed_at = max(?, "
                             "status_changed_at)", (Timestamp.now().internal,))
            conn.execute("COMMIT")
        return changed

    # --- reclaim ----------------------------------------------------------------------

    def _reclaim_rows(self, conn: sqlite3.Connection, age_timestamp: str, batch: int) -> int:
        """Delete up to ``batch`` deleted rows older than ``age_timestamp`` (subclass)."""
        raise NotImplementedError

    def reclaim(self, age_timestamp: TimestampValue, sync_timestamp: float) -> None:
        """Forget what is old enough that every replica has seen it.

        Deleted rows whose timestamp is older than ``age_timestamp``, metadata deletions
        (empty values) older than it, and sync points not updated since ``sync_timestamp``
        (seconds since the epoch). Rows go in batches of short transactions.
        """
        age = Timestamp(age_timestamp).internal
        self.commit_pending(stale_ok=False)
        while True:
            with self.get() as conn:
                conn.execute("BEGIN IMMEDIATE")
                removed = self._reclaim_rows(conn, age, 1000)
                conn.execute("COMMIT")
            if removed < 1000:
                break
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for table in ("incoming_sync", "outgoing_sync"):
                conn.execute(f"DELETE FROM {table} WHERE updated_at < ?",
                             (int(sync_timestamp),))
            metadata = self._load_metadata(conn)
            kept = {k: v for k, v in metadata.items()
                    if v[0] != "" or Timestamp(v[1]) >= Timestamp(age)}
            if len(kept) != len(metadata):
                conn.execute(f"UPDATE {self.db_type}_stat SET metadata = ?",
                             (json.dumps(kept, ensure_ascii=False),))
            conn.execute("COMMIT")


# A daemon or server of one kind of database (account, container) is generic in its broker
# class, so that its methods see that class's own API.
BrokerT = TypeVar("BrokerT", bound=DatabaseBroker)
