"""``ContainerBroker``: the sqlite database of one container (its object rows and stats).

Schema (see ``docs/container-server.md``):

* ``object``: ``ROWID`` (only grows), ``name``, ``created_at`` (the encoded data,
  content-type and metadata timestamps, see :func:`encode_timestamps`), ``size``,
  ``content_type``, ``etag``, ``deleted`` (0/1), ``storage_policy_index``; an index on
  ``(deleted, name)`` serves listings and merges. One row per ``(name, policy)``.
* ``policy_stat``: ``object_count`` and ``bytes_used`` per storage policy, kept by the
  merge code in the same transaction as the rows.
* ``container_stat``: one row (account, container, timestamps, hash, id, metadata,
  reported stats, container-sync points, the container's storage policy index).

Object updates are queued in the pending file and merged in batches; the newest timestamp
wins per field group: data (size, etag, deleted), content type, metadata time.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from oiofs.common.db.broker import ZERO_TIMESTAMP, DatabaseBroker, zero_like
from oiofs.common.db.connection import SQLITE_ARG_LIMIT, row_hash, xor_hashes
from oiofs.common.db.listing import list_with_rules
from oiofs.common.db.listing_format import extract_swift_bytes
from oiofs.common.db.range_query import range_fetch
from oiofs.common.policy_choice import remote_policy_wins
from oiofs.common.timestamp import Timestamp

DELETED_CONTENT_TYPE = "application/deleted"
DELETED_ETAG = "noetag"


def encode_timestamps(data: Timestamp, ctype: Timestamp | None = None,
                      meta: Timestamp | None = None) -> str:
    """One sortable string for an object's data, content-type and metadata timestamps.

    ``data`` in internal form, then ``+<hex>`` deltas (in 10 us ticks, may be negative)
    from data to content type and from content type to metadata, only when they differ:
    a plain PUT is stored as its timestamp alone.
    """
    text = data.internal
    if ctype is None:
        return text
    d1 = ctype.raw - data.raw
    d2 = (meta.raw - ctype.raw) if meta is not None else 0
    if d1 or d2:
        text += f"{d1:+x}"
        if meta is not None:
            text += f"{d2:+x}"
    return text


def decode_timestamps(encoded: str) -> tuple[Timestamp, Timestamp, Timestamp]:
    """``(data, content_type, metadata)`` timestamps of an encoded ``created_at``."""
    if "+" not in encoded and "-" not in encoded:
        ts = Timestamp(encoded)
        return ts, ts, ts
    parts: list[str] = []
    signs: list[int] = []
    for positive in encoded.split("+"):
        pieces = positive.split("-")
        parts.extend(pieces)
        signs.extend([1] + [-1] * (len(pieces) - 1))
    data = Timestamp(parts[0])
    ctype = meta = data
    if len(parts) > 1:
        delta = signs[1] * int(parts[1] or "0", 16)
        if delta:
            ctype = Timestamp(0, delta=data.raw + delta)
        meta = ctype
    if len(parts) > 2:
        delta = signs[2] * int(parts[2] or "0", 16)
        if delta:
            meta = Timestamp(0, delta=ctype.raw + delta)
    return data, ctype, meta


def merge_object_item(new: dict, existing: dict | None) -> dict | None:
    """The row that results from ``new`` arriving over ``existing``; ``None`` if not newer.

    Each group of fields is taken from whichever side has the newer timestamp for it:
    data (``size``, ``etag``, ``deleted`` and the ``swift_bytes`` content-type parameter),
    content type, and the metadata time. Ties keep what is stored.
    """
    n_data, n_ctype, n_meta = decode_timestamps(new["created_at"])
    if new.get("ctype_timestamp"):
        n_ctype = n_meta = Timestamp(new["ctype_timestamp"])
    if new.get("meta_timestamp"):
        n_meta = Timestamp(new["meta_timestamp"])
    if existing is None:
        row = dict(new)
        row["created_at"] = encode_timestamps(n_data, n_ctype, n_meta)
        return row
    e_data, e_ctype, e_meta = decode_timestamps(existing["created_at"])
    newer = False
    new_ct, new_sb = extract_swift_bytes(new["content_type"])
    old_ct, old_sb = extract_swift_bytes(existing["content_type"])
    row = {"name": existing["name"],
           "storage_policy_index": existing["storage_policy_index"]}
    if n_data > e_data:
        newer = True
        source, swift_bytes, data_ts = new, new_sb, n_data
    else:
        source, swift_bytes, data_ts = existing, old_sb, e_data
    row["size"], row["etag"], row["deleted"] = source["size"], source["etag"], source["deleted"]
    if n_ctype > e_ctype:
        newer = True
        content_type, ctype_ts = new_ct, n_ctype
    else:
        content_type, ctype_ts = old_ct, e_ctype
    if n_meta > e_meta:
        newer = True
        meta_ts = n_meta
    else:
        meta_ts = e_meta
    if not newer:
        return None
    if swift_bytes:
        content_type += f";swift_bytes={swift_bytes}"
    row["content_type"] = content_type
    row["created_at"] = encode_timestamps(data_ts, ctype_ts, meta_ts)
    return row


def object_record(name: str, timestamp, size: int, content_type: str, etag: str,
                  deleted: int = 0, storage_policy_index: int = 0,
                  ctype_timestamp=None, meta_timestamp=None) -> dict:
    """An object row as :meth:`ContainerBroker.put_records` takes it."""
    return {
        "name": name, "created_at": Timestamp(timestamp).internal, "size": int(size),
        "content_type": content_type, "etag": etag, "deleted": 1 if deleted else 0,
        "storage_policy_index": int(storage_policy_index),
        "ctype_timestamp": Timestamp(ctype_timestamp).internal if ctype_timestamp
        else None,
        "meta_timestamp": Timestamp(meta_timestamp).internal if meta_timestamp else None,
    }


class ContainerBroker(DatabaseBroker):
    """The database of one container: object rows, per-policy stats, metadata."""

    db_type = "container"
    db_contains_type = "object"
    db_reclaim_timestamp = "created_at"
    item_columns = ("name", "created_at", "size", "content_type", "etag", "deleted",
                    "storage_policy_index")

    # --- creation -------------------------------------------------------------------

    def _initialize(self, conn: sqlite3.Connection, put_timestamp: str,
                    storage_policy_index: int = 0, **_other: Any) -> None:
        if self.account is None or self.container is None:
            raise ValueError("a new container database needs account and container")
        conn.execute("""
            CREATE TABLE object (
                ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                created_at TEXT NOT NULL,
                size INTEGER NOT NULL DEFAULT 0,
                content_type TEXT,
                etag TEXT,
                deleted INTEGER NOT NULL DEFAULT 0,
                storage_policy_index INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("CREATE INDEX ix_object_deleted_name ON object (deleted, name)")
        conn.execute("""
            CREATE TABLE policy_stat (
                storage_policy_index INTEGER PRIMARY KEY,
                object_count INTEGER NOT NULL DEFAULT 0,
                bytes_used INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("INSERT INTO policy_stat (storage_policy_index) VALUES (?)",
                     (int(storage_policy_index),))
        conn.execute("""
            CREATE TABLE container_stat (
                account TEXT, container TEXT, created_at TEXT, put_timestamp TEXT,
                delete_timestamp TEXT, status TEXT DEFAULT '', status_changed_at TEXT,
                hash TEXT, id TEXT, metadata TEXT DEFAULT '',
                reported_put_timestamp TEXT, reported_delete_timestamp TEXT,
                reported_object_count INTEGER DEFAULT 0,
                reported_bytes_used INTEGER DEFAULT 0,
                x_container_sync_point1 INTEGER DEFAULT -1,
                x_container_sync_point2 INTEGER DEFAULT -1,
                storage_policy_index INTEGER DEFAULT 0,
                reconciler_sync_point INTEGER DEFAULT -1)""")
        conn.execute("""
            INSERT INTO container_stat (account, container, created_at, put_timestamp,
                delete_timestamp, status_changed_at, hash, id, reported_put_timestamp,
                reported_delete_timestamp, storage_policy_index)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                     (self.account, self.container, Timestamp.now().internal, put_timestamp,
                      ZERO_TIMESTAMP, put_timestamp, "0" * 32, _new_id(), ZERO_TIMESTAMP,
                      ZERO_TIMESTAMP, int(storage_policy_index)))

    # --- updates ----------------------------------------------------------------------

    def put_object(self, name: str, timestamp, size: int, content_type: str, etag: str,
                   deleted: int = 0, storage_policy_index: int = 0,
                   ctype_timestamp=None, meta_timestamp=None) -> None:
        """Durably queue an object row (a PUT, or a deletion with ``deleted=1``)."""
        self.put_record(object_record(name, timestamp, size, content_type, etag, deleted,
                                      storage_policy_index, ctype_timestamp, meta_timestamp))

    def delete_object(self, name: str, timestamp, storage_policy_index: int = 0) -> None:
        """Durably queue the deletion of an object at ``timestamp``."""
        self.put_object(name, timestamp, 0, DELETED_CONTENT_TYPE, DELETED_ETAG, deleted=1,
                        storage_policy_index=storage_policy_index)

    def _record_to_entry(self, record: dict) -> list:
        return [record["name"], record["created_at"], record["size"],
                record["content_type"], record["etag"], record["deleted"],
                record.get("storage_policy_index", 0), record.get("ctype_timestamp"),
                record.get("meta_timestamp")]

    def _entry_to_record(self, entry: list) -> dict:
        (name, created_at, size, content_type, etag, deleted, policy, ctype_ts,
         meta_ts) = entry
        return {"name": str(name), "created_at": Timestamp(created_at).internal
                if "+" not in created_at and "-" not in created_at else created_at,
                "size": int(size), "content_type": str(content_type), "etag": str(etag),
                "deleted": 1 if deleted else 0, "storage_policy_index": int(policy),
                "ctype_timestamp": ctype_ts, "meta_timestamp": meta_ts}

    def _merge_items(self, conn: sqlite3.Connection, items: list[dict]) -> None:
        names = list({item["name"] for item in items})
        current: dict[tuple[str, int], dict] = {}
        for start in range(0, len(names), SQLITE_ARG_LIMIT):
            chunk = names[start:start + SQLITE_ARG_LIMIT]
            for row in conn.execute(
                    "SELECT ROWID, name, created_at, size, content_type, etag, deleted, "
                    "storage_policy_index FROM object WHERE deleted IN (0, 1) AND name IN "
                    f"({','.join('?' * len(chunk))})", chunk):
                current[(row[1], row[7])] = {
                    "ROWID": row[0], "name": row[1], "created_at": row[2], "size": row[3],
                    "content_type": row[4], "etag": row[5], "deleted": row[6],
                    "storage_policy_index": row[7]}
        stored = dict(current)
        changed: dict[tuple[str, int], dict] = {}
        for item in items:
            item.setdefault("storage_policy_index", 0)
            ident = (item["name"], item["storage_policy_index"])
            merged = merge_object_item(item, current.get(ident))
            if merged is not None:
                current[ident] = changed[ident] = merged
        if not changed:
            return
        stats: dict[int, list[int]] = {}
        hash_delta = 0
        gone = [stored[ident] for ident in changed if ident in stored]
        for row, sign in [(r, -1) for r in gone] + [(r, 1) for r in changed.values()]:
            hash_delta ^= row_hash(row["name"], row["created_at"])
            if not row["deleted"]:
                stat = stats.setdefault(row["storage_policy_index"], [0, 0])
                stat[0] += sign
                stat[1] += sign * row["size"]
        if gone:
            conn.executemany("DELETE FROM object WHERE ROWID = ?",
                             [(row["ROWID"],) for row in gone])
        conn.executemany(
            "INSERT INTO object (name, created_at, size, content_type, etag, deleted, "
            "storage_policy_index) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r["name"], r["created_at"], r["size"], r["content_type"], r["etag"],
              r["deleted"], r["storage_policy_index"]) for r in changed.values()])
        self._apply_stats(conn, stats, hash_delta)

    @staticmethod
    def _apply_stats(conn, stats: dict[int, list[int]], hash_delta: int) -> None:
        for policy, (count, size) in stats.items():
            if count or size:
                conn.execute("INSERT OR IGNORE INTO policy_stat (storage_policy_index) "
                             "VALUES (?)", (policy,))
                conn.execute("UPDATE policy_stat SET object_count = object_count + ?, "
                             "bytes_used = bytes_used + ? WHERE storage_policy_index = ?",
                             (count, size, policy))
        if hash_delta:
            old = conn.execute("SELECT hash FROM container_stat").fetchone()[0]
            conn.execute("UPDATE container_stat SET hash = ?", (xor_hashes(old, hash_delta),))

    def _reclaim_rows(self, conn, age_timestamp: str, batch: int) -> int:
        rows = conn.execute("SELECT ROWID, name, created_at FROM object WHERE deleted = 1 "
                            "AND created_at < ? LIMIT ?", (age_timestamp, batch)).fetchall()
        if rows:
            hash_delta = 0
            for _rowid, name, created_at in rows:
                hash_delta ^= row_hash(name, created_at)
            conn.executemany("DELETE FROM object WHERE ROWID = ?", [(r[0],) for r in rows])
            self._apply_stats(conn, {}, hash_delta)
        return len(rows)

    # --- status and info ---------------------------------------------------------------

    _INFO_COLUMNS = ("account", "container", "created_at", "put_timestamp", "delete_timestamp",
                     "status_changed_at", "reported_put_timestamp",
                     "reported_delete_timestamp", "reported_object_count",
                     "reported_bytes_used", "hash", "id", "x_container_sync_point1",
                     "x_container_sync_point2", "storage_policy_index", "status")

    def get_info(self) -> dict:
        """The container's stats: account, container, timestamps, ``object_count``,
        ``bytes_used`` (of the container's policy), reported stats, hash, id, sync points,
        ``storage_policy_index``. Pending updates are merged first."""
        self.commit_pending()
        columns = ", ".join(f"c.{name}" for name in self._INFO_COLUMNS)
        with self.get() as conn:
            row = conn.execute(
                f"SELECT {columns}, COALESCE(p.object_count, 0), COALESCE(p.bytes_used, 0) "
                "FROM container_stat c LEFT JOIN policy_stat p "
                "ON p.storage_policy_index = c.storage_policy_index").fetchone()
        info = dict(zip(self._INFO_COLUMNS, row[:-2], strict=True))
        info["object_count"], info["bytes_used"] = row[-2], row[-1]
        self.account, self.container = info["account"], info["container"]
        return info

    @staticmethod
    def _deleted(object_count, put_timestamp: str, delete_timestamp: str) -> bool:
        return zero_like(object_count) and Timestamp(delete_timestamp) > Timestamp(
            put_timestamp)

    def _is_deleted_info(self, info: dict) -> bool:
        return self._deleted(info["object_count"], info["put_timestamp"],
                             info["delete_timestamp"])

    def _is_deleted(self, conn) -> bool:
        row = conn.execute(
            "SELECT c.put_timestamp, c.delete_timestamp, COALESCE(p.object_count, 0) "
            "FROM container_stat c LEFT JOIN policy_stat p "
            "ON p.storage_policy_index = c.storage_policy_index").fetchone()
        return self._deleted(row[2], row[0], row[1])

    def empty(self) -> bool:
        """True if no policy holds a live object row (misplaced objects count too)."""
        self.commit_pending()
        with self.get() as conn:
            row = conn.execute("SELECT max(object_count) FROM policy_stat").fetchone()
        return zero_like(row[0])

    def get_policy_stats(self) -> dict[int, dict]:
        """``{policy_index: {'object_count', 'bytes_used'}}`` for every policy seen."""
        self.commit_pending()
        with self.get() as conn:
            rows = conn.execute("SELECT storage_policy_index, object_count, bytes_used "
                                "FROM policy_stat").fetchall()
        return {r[0]: {"object_count": r[1], "bytes_used": r[2]} for r in rows}

    @property
    def storage_policy_index(self) -> int:
        """The container's storage policy index."""
        with self.get() as conn:
            return conn.execute("SELECT storage_policy_index FROM container_stat"
                                ).fetchone()[0]

    def set_storage_policy_index(self, policy_index: int, timestamp=None) -> None:
        """Give the container another policy; ``status_changed_at`` moves to ``timestamp``.

        Every row is looked at again for the reconciler (rows of the old policy are
        misplaced now).
        """
        ts = Timestamp(timestamp).internal if timestamp else Timestamp.now().internal
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR IGNORE INTO policy_stat (storage_policy_index) VALUES (?)",
                         (int(policy_index),))
            conn.execute("UPDATE container_stat SET storage_policy_index = ?, "
                         "status_changed_at = max(?, status_changed_at), "
                         "reconciler_sync_point = -1 WHERE storage_policy_index <> ?",
                         (int(policy_index), ts, int(policy_index)))
            conn.execute("COMMIT")

    def get_replication_info(self) -> dict[str, Any]:
        """The common replication info plus the container's ``storage_policy_index``
        (replicas that disagree pick one, :mod:`oiofs.common.policy_choice`)."""
        info = super().get_replication_info()
        with self.get() as conn:
            info["storage_policy_index"] = conn.execute(
                "SELECT storage_policy_index FROM container_stat").fetchone()[0]
        return info

    def merge_remote_state(self, info: dict[str, Any], remote: dict[str, Any]) -> bool:
        """Take the replica's storage policy if it wins over this replica's current state
        by :func:`~oiofs.common.policy_choice.remote_policy_wins`; True if it did.

        The winner's ``status_changed_at`` comes with its policy, exactly (not the newer
        of both): the next replica compared with this one must see the winning state.
        Rows of the losing policy stay, as misplaced rows for the reconciler.
        """
        if "storage_policy_index" not in remote:
            return False
        policy = int(remote["storage_policy_index"])
        changed_at = Timestamp(remote["status_changed_at"]).internal
        with self.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            # compared with the state now, not ``info``: another sync may have just
            # given this replica a better policy
            row = conn.execute(
                "SELECT c.put_timestamp, c.delete_timestamp, c.status_changed_at, "
                "c.storage_policy_index, COALESCE(p.object_count, 0) FROM container_stat c "
                "LEFT JOIN policy_stat p ON p.storage_policy_index = c.storage_policy_index"
            ).fetchone()
            local = dict(zip(("put_timestamp", "delete_timestamp", "status_changed_at",
                              "storage_policy_index", "count"), row, strict=True))
            if not remote_policy_wins(local, remote):
                conn.execute("ROLLBACK")
                return False
            conn.execute("INSERT OR IGNORE INTO policy_stat (storage_policy_index) VALUES (?)",
                         (policy,))
            conn.execute("UPDATE container_stat SET storage_policy_index = ?, "
                         "status_changed_at = ?, reconciler_sync_point = -1",
                         (policy, changed_at))
            conn.execute("COMMIT")
        self.logger.info("%s: storage policy %s -> %s (replica %s wins)", self.db_file,
                         local["storage_policy_index"], policy, remote.get("id"))
        return True

    def reported(self, put_timestamp, delete_timestamp, object_count: int,
                 bytes_used: int) -> None:
        """Remember what was last reported to the account (see ``reported_*`` in info)."""
        self._set_stat("reported_put_timestamp = ?, reported_delete_timestamp = ?, "
                       "reported_object_count = ?, reported_bytes_used = ?", "1",
                       (Timestamp(put_timestamp).internal,
                        Timestamp(delete_timestamp).internal, int(object_count),
                        int(bytes_used)))

    def set_x_container_sync_points(self, sync_point1: int | None,
                                    sync_point2: int | None) -> None:
        """Set the container-sync points (``None`` leaves one unchanged)."""
        if sync_point1 is not None:
            self._set_stat("x_container_sync_point1 = ?", "1", (int(sync_point1),))
        if sync_point2 is not None:
            self._set_stat("x_container_sync_point2 = ?", "1", (int(sync_point2),))

    def _newid(self, conn) -> None:
        super()._newid(conn)
        # a copied database has not reported anything yet from here
        conn.execute("UPDATE container_stat SET reported_put_timestamp = ?, "
                     "reported_delete_timestamp = ?, reported_object_count = 0, "
                     "reported_bytes_used = 0", (ZERO_TIMESTAMP, ZERO_TIMESTAMP))

    def get_misplaced_since(self, start: int, count: int) -> list[dict]:
        """Rows after ROWID ``start`` whose policy is not the container's (for the
        reconciler), as dicts with ``ROWID`` and the item columns."""
        self.commit_pending()
        columns = ("ROWID",) + self.item_columns
        with self.get() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(columns)} FROM object WHERE ROWID > ? AND "
                "storage_policy_index <> (SELECT storage_policy_index FROM container_stat) "
                "ORDER BY ROWID LIMIT ?", (start, count)).fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def get_reconciler_sync(self) -> int:
        """The ROWID up to which misplaced rows were queued for the reconciler (-1)."""
        with self.get() as conn:
            return conn.execute("SELECT reconciler_sync_point FROM container_stat"
                                ).fetchone()[0]

    def update_reconciler_sync(self, point: int) -> None:
        """Record that the misplaced rows up to ROWID ``point`` are queued."""
        self._set_stat("reconciler_sync_point = ?", "1", (int(point),))

    # --- listing ----------------------------------------------------------------------

    def list_objects_iter(self, limit: int, marker: str | None, end_marker: str | None,
                          prefix: str | None, delimiter: str | None, path: str | None = None,
                          storage_policy_index: int = 0, reverse: bool = False) -> list:
        """Object rows ``(name, last_modified, size, content_type, etag)`` in name order.

        ``last_modified`` is the internal form of the newest of the row's timestamps.
        Subdir rows are ``(subdir, '0', 0, None, '')``. Rules: :mod:`oiofs.common.db.listing`.
        """
        rows = self._list_rows(limit, marker, end_marker, prefix, delimiter, path,
                               storage_policy_index, reverse, False, False)
        return [row if row[3] is None or ("+" not in row[1] and "-" not in row[1])
                else (row[0], decode_timestamps(row[1])[2].internal) + tuple(row[2:5])
                for row in rows]

    def list_rows_with_deleted(self, limit: int, marker: str | None,
                               end_marker: str | None, prefix: str | None,
                               storage_policy_index: int = 0, reverse: bool = False,
                               lower_inclusive: bool = False) -> list:
        """Raw rows ``(name, created_at, size, content_type, etag, deleted)`` in name
        order, deleted rows included (a proxy merging replicas that disagree needs the
        newest timestamp of each name: :mod:`oiofs.proxy.merged_listing`).

        ``created_at`` is the encoded form (:func:`encode_timestamps`), the content type
        keeps its ``swift_bytes``. The range rules are the listing's without a delimiter;
        ``lower_inclusive`` makes the lower bound (``marker``, or ``end_marker`` when
        ``reverse``) inclusive.
        """
        return self._list_rows(limit, marker, end_marker, prefix, None, None,
                               storage_policy_index, reverse, True, lower_inclusive)

    def _list_rows(self, limit: int, marker: str | None, end_marker: str | None,
                   prefix: str | None, delimiter: str | None, path: str | None,
                   storage_policy_index: int, reverse: bool, with_deleted: bool,
                   lower_inclusive: bool) -> list:
        """The listing rules over one snapshot: live rows with the listing's columns, or
        every row with ``deleted`` too."""
        self.commit_pending()
        columns = "name, created_at, size, content_type, etag"
        if with_deleted:
            columns += ", deleted"
        with self.get() as conn:
            fetch = range_fetch(conn, "object", columns, with_deleted, lower_inclusive,
                                "AND storage_policy_index = ?", (storage_policy_index,))
            conn.execute("BEGIN")  # one consistent snapshot for all the range queries
            try:
                return list_with_rules(fetch, limit, marker, end_marker, prefix, delimiter,
                                       path, reverse, subdir_row)
            finally:
                conn.execute("COMMIT")


def subdir_row(name: str) -> tuple:
    """The listing row of a subdir entry."""
    return (name, "0", 0, None, "")


def _new_id() -> str:
    return str(uuid.uuid4())
