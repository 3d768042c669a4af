"""The one range query of a listing (:data:`oiofs.common.db.listing.Fetch`) over the
``(deleted, name)`` index of a container's ``object`` table or an account's
``container`` table.

Listings read live rows only (``deleted = 0``). The form a proxy merges replicas with
(``X-Backend-Include-Deleted``, :mod:`oiofs.proxy.merged_listing`) reads deleted rows
too: two ranges of the index (live, then deleted), merged by name, so that neither
needs a scan of the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from oiofs.common.db.listing import Fetch, Row


def range_fetch(conn: sqlite3.Connection, table: str, columns: str, with_deleted: bool,
                lower_inclusive: bool = False, where: str = "",
                where_args: Sequence[Any] = ()) -> Fetch:
    """A :data:`~oiofs.common.db.listing.Fetch` over ``table`` (``columns``, the name
    first), live rows only unless ``with_deleted``; ``lower_inclusive`` makes every
    lower bound inclusive; ``where`` (``AND ...``) with ``where_args`` narrows the rows.

    >>> conn = sqlite3.connect(":memory:")
    >>> _ = conn.execute("CREATE TABLE t (name TEXT, deleted INTEGER)")
    >>> _ = conn.executemany("INSERT INTO t VALUES (?, ?)", [("a", 0), ("b", 1), ("c", 0)])
    >>> range_fetch(conn, "t", "name", False)(None, False, None, 10, False)
    [('a',), ('c',)]
    >>> range_fetch(conn, "t", "name, deleted", True)("a", False, None, 10, True)
    [('c', 0), ('b', 1)]
    """

    def query(deleted: int, lower: str | None, inclusive: bool, upper: str | None,
              count: int, descending: bool) -> list[Row]:
        sql = [f"SELECT {columns} FROM {table} WHERE deleted = ?"]
        args: list[Any] = [deleted]
        if lower is not None:
            sql.append("AND name >= ?" if inclusive or lower_inclusive else "AND name > ?")
            args.append(lower)
        if upper is not None:
            sql.append("AND name < ?")
            args.append(upper)
        sql.append(where)
        args += where_args
        sql.append("ORDER BY name DESC LIMIT ?" if descending else "ORDER BY name LIMIT ?")
        args.append(count)
        return list(conn.execute(" ".join(sql), args).fetchall())

    def fetch(lower: str | None, inclusive: bool, upper: str | None, count: int,
              descending: bool) -> list[Row]:
        rows = query(0, lower, inclusive, upper, count, descending)
        if not with_deleted:
            return rows
        rows += query(1, lower, inclusive, upper, count, descending)
        rows.sort(key=lambda row: str(row[0]), reverse=descending)
        return rows[:count]

    return fetch
