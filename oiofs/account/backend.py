"""``AccountBroker``: the sqlite database of one account (its container rows and stats).

Schema (see ``docs/account-server.md``):

* ``container``: ``ROWID`` (only grows), ``name``, ``put_timestamp``,
  ``delete_timestamp``, ``object_count``, ``bytes_used``, ``deleted``,
  ``storage_policy_index``; an index on ``(deleted, name)``. One row per container name.
* ``policy_stat``: ``container_count``, ``object_count``, ``bytes_used`` per policy.
* ``account_stat``: one row with the account's timestamps, totals, hash, id, status and
  metadata.

Container servers report their stats with :meth:`AccountBroker.put_container`; reports
are queued in the pending file and merged in batches. A row keeps the newest put and
delete timestamps it has seen and the counts of the latest report.
"""

from __future__ import annotations

import sqlite3
import uuid

from oiofs.common.db.broker import ZERO_TIMESTAMP, DatabaseBroker, zero_like
from oiofs.common.db.connection import SQLITE_ARG_LIMIT, row_hash, xor_hashes
from oiofs.common.db.listing import list_with_rules
from oiofs.common.db.range_query import range_fetch
from oiofs.common.timestamp import Timestamp

#: the columns of a container row, as the raw listing form sends them
ROW_FIELDS = ("name", "put_timestamp", "delete_timestamp", "object_count", "bytes_used",
               "deleted", "storage_policy_index")


def _row_key(row: dict) -> str:
    """The hashed identity of a container row (changes whenever the row does)."""
    return (f"{row['put_timestamp']}-{row['delete_timestamp']}-{row['object_count']}-"
            f"{row['bytes_used']}")


class AccountBroker(DatabaseBroker):
    """The database of one account: container rows, per-policy stats, metadata."""

    db_type = "account"
    db_contains_type = "container"
    db_reclaim_timestamp = "delete_timestamp"
    item_columns = ROW_FIELDS

    def _initialize(self, conn: sqlite3.Connection, put_timestamp: str, **kwargs) -> None:
        if self.account is None:
            raise ValueError("a new account database needs its account name")
        conn.execute("""
            CREATE TABLE container (
                ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                put_timestamp TEXT,
                delete_timestamp TEXT,
                object_count INTEGER,
                bytes_used INTEGER,
                deleted INTEGER NOT NULL DEFAULT 0,
                storage_policy_index INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("CREATE INDEX ix_container_deleted_name ON container (deleted, name)")
        conn.execute("""
            CREATE TABLE policy_stat (
                storage_policy_index INTEGER PRIMARY KEY,
                container_count INTEGER NOT NULL DEFAULT 0,
                object_count INTEGER NOT NULL DEFAULT 0,
                bytes_used INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("""
            CREATE TABLE account_stat (
                account TEXT, created_at TEXT, put_timestamp TEXT, delete_timestamp TEXT,
                container_count INTEGER DEFAULT 0, object_count INTEGER DEFAULT 0,
                bytes_used INTEGER DEFAULT 0, hash TEXT, id TEXT, status TEXT DEFAULT '',
                status_changed_at TEXT, metadata TEXT DEFAULT '')""")
        conn.execute("""
            INSERT INTO account_stat (account, created_at, put_timestamp, delete_timestamp,
                status_changed_at, hash, id)
            VALUES (?, ?, ?, ?, ?, ?, ?)""",
                     (self.account, Timestamp.now().internal, put_timestamp, ZERO_TIMESTAMP,
                      put_timestamp, "0" * 32, str(uuid.uuid4())))

    # --- updates ----------------------------------------------------------------------

    def put_container(self, name: str, put_timestamp, delete_timestamp, object_count: int,
                      bytes_used: int, storage_policy_index: int = 0) -> None:
        """Durably queue a container's report (stats and timestamps)."""
        put_ts = Timestamp(put_timestamp).internal
        delete_ts = Timestamp(delete_timestamp).internal
        deleted = 1 if delete_ts > put_ts and zero_like(object_count) else 0
        self.put_record({"name": name, "put_timestamp": put_ts,
                         "delete_timestamp": delete_ts, "object_count": int(object_count),
                         "bytes_used": int(bytes_used), "deleted": deleted,
                         "storage_policy_index": int(storage_policy_index)})

    def _record_to_entry(self, record: dict) -> list:
        return [record[field] for field in ROW_FIELDS]

    def _entry_to_record(self, entry: list) -> dict:
        name, put_ts, delete_ts, objects, size, deleted, policy = entry
        return {"name": str(name), "put_timestamp": Timestamp(put_ts).internal,
                "delete_timestamp": Timestamp(delete_ts).internal,
                "object_count": int(objects), "bytes_used": int(size),
                "deleted": 1 if deleted else 0, "storage_policy_index": int(policy)}

    def _merge_items(self, conn: sqlite3.Connection, items: list[dict]) -> None:
        names = list({item["name"] for item in items})
        current: dict[str, dict] = {}
        for start in range(0, len(names), SQLITE_ARG_LIMIT):
            chunk = names[start:start + SQLITE_ARG_LIMIT]
            for row in conn.execute(
                    "SELECT ROWID, " + ", ".join(ROW_FIELDS) + " FROM container "
                    f"WHERE deleted IN (0, 1) AND name IN ({','.join('?' * len(chunk))})",
                    chunk):
                current[row[1]] = dict(zip(("ROWID",) + ROW_FIELDS, row, strict=True))
        stored = dict(current)
        changed: dict[str, dict] = {}
        for item in items:
            merged = merge_container_item(item, current.get(item["name"]))
            if merged is not None:
                current[item["name"]] = changed[item["name"]] = merged
        if not changed:
            return
        stats: dict[int, list[int]] = {}
        hash_delta = 0
        gone = [stored[name] for name in changed if name in stored]
        for row, sign in [(r, -1) for r in gone] + [(r, 1) for r in changed.values()]:
            hash_delta ^= row_hash(row["name"], _row_key(row))
            if not row["deleted"]:
                stat = stats.setdefault(row["storage_policy_index"], [0, 0, 0])
                stat[0] += sign
                stat[1] += sign * int(row["object_count"] or 0)
                stat[2] += sign * int(row["bytes_used"] or 0)
        if gone:
            conn.executemany("DELETE FROM container WHERE ROWID = ?",
                             [(row["ROWID"],) for row in gone])
        conn.executemany(
            "INSERT INTO container (" + ", ".join(ROW_FIELDS) + ") VALUES (?, ?, ?, ?, ?, ?, ?)",
            [tuple(row[f] for f in ROW_FIELDS) for row in changed.values()])
        self._apply_stats(conn, stats, hash_delta)

    @staticmethod
    def _apply_stats(conn, stats: dict[int, list[int]], hash_delta: int) -> None:
        total = [0, 0, 0]
        for policy, (containers, objects, size) in stats.items():
            if containers or objects or size:
                conn.execute("INSERT OR IGNORE INTO policy_stat (storage_policy_index) "
                             "VALUES (?)", (policy,))
                conn.execute("UPDATE policy_stat SET container_count = container_count + ?, "
                             "object_count = object_count + ?, bytes_used = bytes_used + ? "
                             "WHERE storage_policy_index = ?",
                             (containers, objects, size, policy))
                total = [total[0] + containers, total[1] + objects, total[2] + size]
        row = conn.execute("SELECT hash FROM account_stat").fetchone()
        conn.execute("UPDATE account_stat SET container_count = container_count + ?, "
                     "object_count = object_count + ?, bytes_used = bytes_used + ?, "
                     "hash = ?", (*total, xor_hashes(row[0], hash_delta)))

    def _reclaim_rows(self, conn, age_timestamp: str, batch: int) -> int:
        rows = conn.execute(
            "SELECT ROWID, " + ", ".join(ROW_FIELDS) + " FROM container WHERE deleted = 1 "
            "AND delete_timestamp < ? LIMIT ?", (age_timestamp, batch)).fetchall()
        if rows:
            hash_delta = 0
            for row in rows:
                record = dict(zip(("ROWID",) + ROW_FIELDS, row, strict=True))
                hash_delta ^= row_hash(record["name"], _row_key(record))
            conn.executemany("DELETE FROM container WHERE ROWID = ?", [(r[0],) for r in rows])
            self._apply_stats(conn, {}, hash_delta)
        return len(rows)

    # --- status and info ---------------------------------------------------------------

    _INFO_COLUMNS = ("account", "created_at", "put_timestamp", "delete_timestamp",
                     "status_changed_at", "container_count", "object_count", "bytes_used",
                     "hash", "id", "status")

    def get_info(self) -> dict:
        """The account's stats: account, timestamps, ``container_count``,
        ``object_count``, ``bytes_used``, hash, id, status. Pending reports are merged
        first."""
        self.commit_pending()
        with self.get() as conn:
            row = conn.execute(f"SELECT {', '.join(self._INFO_COLUMNS)} FROM account_stat"
                               ).fetchone()
        info = dict(zip(self._INFO_COLUMNS, row, strict=True))
        self.account = info["account"]
        return info

    @staticmethod
    def _deleted(status: str, container_count, put_timestamp: str,
                 delete_timestamp: str) -> bool:
        return status == "DELETED" or (zero_like(container_count) and Timestamp(
            delete_timestamp) > Timestamp(put_timestamp))

    def _is_deleted_info(self, info: dict) -> bool:
        return self._deleted(info["status"], info["container_count"], info["put_timestamp"],
                             info["delete_timestamp"])

    def _is_deleted(self, conn) -> bool:
        row = conn.execute("SELECT status, container_count, put_timestamp, delete_timestamp "
                           "FROM account_stat").fetchone()
        return self._deleted(*row)

    def is_status_deleted(self) -> bool:
        """True if the account was deleted (DELETE) as opposed to merely empty."""
        with self.get() as conn:
            row = conn.execute("SELECT status FROM account_stat").fetchone()
        return row[0] == "DELETED"

    def empty(self) -> bool:
        """True if the account holds no live container."""
        self.commit_pending()
        with self.get() as conn:
            row = conn.execute("SELECT container_count FROM account_stat").fetchone()
        return zero_like(row[0])

    def get_policy_stats(self) -> dict[int, dict]:
        """``{policy_index: {'container_count', 'object_count', 'bytes_used'}}``."""
        self.commit_pending()
        with self.get() as conn:
            rows = conn.execute("SELECT storage_policy_index, container_count, object_count, "
                                "bytes_used FROM policy_stat").fetchall()
        return {r[0]: {"container_count": r[1], "object_count": r[2], "bytes_used": r[3]}
                for r in rows}

    # --- listing ----------------------------------------------------------------------

    def list_containers_iter(self, limit: int, marker: str | None, end_marker: str | None,
                             prefix: str | None, delimiter: str | None,
                             reverse: bool = False) -> list:
        """Container rows ``(name, object_count, bytes_used, put_timestamp, 0)`` in name
        order, subdirs as ``(subdir, 0, 0, '0', 1)``. Rules: :mod:`oiofs.common.db.listing`.
        """
        return self._list_rows("name, object_count, bytes_used, put_timestamp, 0", limit,
                               marker, end_marker, prefix, delimiter, reverse, False, False)

    def list_rows_with_deleted(self, limit: int, marker: str | None,
                               end_marker: str | None, prefix: str | None,
                               reverse: bool = False, lower_inclusive: bool = False) -> list:
        """Raw container rows (the columns of ``ROW_FIELDS``) in name order, deleted rows
        included (a proxy merging replicas that disagree needs each name's newest put and
        delete timestamps: :mod:`oiofs.proxy.merged_listing`). The range rules are the
        listing's without a delimiter; ``lower_inclusive`` makes the lower bound
        (``marker``, or ``end_marker`` when ``reverse``) inclusive."""
        return self._list_rows(", ".join(ROW_FIELDS), limit, marker, end_marker, prefix,
                               None, reverse, True, lower_inclusive)

    def _list_rows(self, columns: str, limit: int, marker: str | None,
                   end_marker: str | None, prefix: str | None, delimiter: str | None,
                   reverse: bool, with_deleted: bool, lower_inclusive: bool) -> list:
        self.commit_pending()
        with self.get() as conn:
            fetch = range_fetch(conn, "container", columns, with_deleted, lower_inclusive)
            conn.execute("BEGIN")  # one consistent snapshot for all the range queries
            try:
                return list_with_rules(fetch, limit, marker, end_marker, prefix, delimiter,
                                       None, reverse, subdir_row)
            finally:
                conn.execute("COMMIT")


def subdir_row(name: str) -> tuple:
    """The listing row of a subdir entry."""
    return (name, 0, 0, "0", 1)


def merge_container_item(new: dict, existing: dict | None) -> dict | None:
    """The row after a report ``new`` arrives over ``existing``; ``None`` if unchanged.

    The newest put and delete timestamps are kept, and the row is deleted when its delete
    timestamp is the newer one and it holds no objects. The counts (and policy) come from
    the report, as it is the container's latest view, unless the stored row has seen a
    newer put or delete than anything in the report: a stale report arriving late must not
    bring a deleted container back. (Swift always takes the report's counts.)
    """
    row = {field: new.get(field) for field in ROW_FIELDS}
    row["storage_policy_index"] = int(row["storage_policy_index"] or 0)
    if existing is not None:
        for field in ("put_timestamp", "delete_timestamp", "object_count", "bytes_used"):
            if row[field] is None:
                row[field] = existing[field]
        new_latest = max(Timestamp(row["put_timestamp"]), Timestamp(row["delete_timestamp"]))
        old_latest = max(Timestamp(existing["put_timestamp"]),
                         Timestamp(existing["delete_timestamp"]))
        if old_latest > new_latest:
            for field in ("object_count", "bytes_used", "storage_policy_index"):
                row[field] = existing[field]
        for field in ("put_timestamp", "delete_timestamp"):
            if Timestamp(existing[field]) > Timestamp(row[field]):
                row[field] = existing[field]
    row["object_count"] = int(row["object_count"] or 0)
    row["bytes_used"] = int(row["bytes_used"] or 0)
    row["deleted"] = 1 if (Timestamp(row["delete_timestamp"]) > Timestamp(
        row["put_timestamp"]) and zero_like(row["object_count"])) else 0
    if existing is not None and all(row[f] == existing[f] for f in ROW_FIELDS):
        return None
    return row
