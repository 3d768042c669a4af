"""The two container-sync points: which rows of a container database a replica sends
(sans-IO; the daemon in :mod:`oiofs.container.sync` does the I/O).

Each replica of a container keeps two ROWIDs in its own database
(``x_container_sync_point1``/``x_container_sync_point2``, both -1 at first):

* rows **newer than point 1** are shared by position: a row is sent by the replica whose
  index among the container's primaries equals ``hash(row name) % replica count``
  (:func:`row_owner`); the others pass over it. Point 1 then moves to the newest row
  known: every replica has looked at every row up to it;
* rows **between point 2 and point 1** were looked at, but only their owner sent them.
  Each replica now makes sure the remote has every one of them that another replica
  owned (one ``HEAD``; the row is sent only when the remote does not have it yet, so a
  row whose owner is down is sent once by the first replica that finds it missing).
  Point 2 moves to the newest row for which all updates are known sent.

A row is "done" only once the remote acknowledged it (2xx, or an answer that says the
remote already has it or something newer), and the points never move past a row that is
not done: point 1 stops before an own row that failed (tried again next pass), point 2
stops before the first row that failed in the second stage. Killing the daemon at any
moment therefore loses nothing; at worst a few rows after the last saved point are sent
again, which the remote answers as already done (same timestamp).

Example, 3 replicas, this replica has index 0, rows 1..6 of which it owns 1 and 4:
first pass sends 1 and 4, point 1 = 6, point 2 = -1; next pass checks 2, 3, 5, 6 on the
remote, point 2 = 6 (the rows it owns need no check: it had their acknowledgement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oiofs.common.hashing import hash_path

#: a row from :meth:`~oiofs.common.db.broker.DatabaseBroker.get_items_since`
Row = dict[str, Any]
#: rows read from the database at a time
BATCH = 200
#: the points are saved after this many rows (and at the end of a stage)
SAVE_EVERY = 50


def row_owner(account: str, container: str, name: str, replicas: int) -> int:
    """The index of the primary that sends a new row: the first four bytes of the
    object's keyed hash modulo the replica count (the same on every replica)."""
    digest = hash_path(account, container, name, raw_digest=True)
    return int.from_bytes(digest[:4], "big") % replicas


@dataclass
class SyncProgress:
    """Where one container's pass left its points, and what it did.

    ``sent``: rows this replica sent as their owner (stage 2); ``confirmed``: others'
    rows found on the remote or sent now (stage 1); ``failed``: rows not done;
    ``finished``: every row was looked at (not stopped by time or a failure).
    """

    point1: int
    point2: int
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    finished: bool = False
    rows: list[int] = field(default_factory=list, repr=False)


def run_sync_points(point1: int, point2: int,
                    items_since: Callable[[int, int], list[Row]],
                    is_mine: Callable[[Row], bool],
                    send: Callable[[Row, bool], bool],
                    save: Callable[[int | None, int | None], None],
                    out_of_time: Callable[[], bool]) -> SyncProgress:
    """One pass over one container's rows, moving its two sync points.

    ``items_since(rowid, count)`` reads rows; ``is_mine(row)`` says whether this
    replica owns a row; ``send(row, confirm)`` makes the remote have the row and says
    whether it is done (``confirm`` True: check first, send only if missing);
    ``save(point1, point2)`` stores the points (``None`` leaves one as it is);
    ``out_of_time()`` ends the pass early (resumed next pass).
    """
    progress = SyncProgress(point1, point2)
    if not _confirm_stage(progress, items_since, is_mine, send, save, out_of_time):
        return progress
    progress.finished = _new_rows_stage(progress, items_since, is_mine, send, save,
                                        out_of_time)
    return progress


def _confirm_stage(progress: SyncProgress, items_since: Callable[[int, int], list[Row]],
                   is_mine: Callable[[Row], bool], send: Callable[[Row, bool], bool],
                   save: Callable[[int | None, int | None], None],
                   out_of_time: Callable[[], bool]) -> bool:
    """Rows between point 2 and point 1; False if time ran out."""
    cursor = progress.point2
    held = False  # a row failed: point 2 stays before it
    unsaved = 0
    while cursor < progress.point1:
        rows = [r for r in items_since(cursor, BATCH) if r["ROWID"] <= progress.point1]
        if not rows:
            break
        for row in rows:
            if out_of_time():
                _save_point2(progress, save, unsaved)
                return False
            cursor = row["ROWID"]
            if not is_mine(row):
                if send(row, True):
                    progress.confirmed += 1
                    progress.rows.append(cursor)
                else:
                    progress.failed += 1
                    held = True
            if not held:
                progress.point2 = cursor
                unsaved += 1
                if unsaved >= SAVE_EVERY:
                    save(None, progress.point2)
                    unsaved = 0
    if not held:  # nothing failed: every row up to point 1 is done
        progress.point2 = max(progress.point2, progress.point1)
        unsaved += 1
    _save_point2(progress, save, unsaved)
    return True


def _save_point2(progress: SyncProgress, save: Callable[[int | None, int | None], None],
                 unsaved: int) -> None:
    if unsaved:
        save(None, progress.point2)


def _new_rows_stage(progress: SyncProgress, items_since: Callable[[int, int], list[Row]],
                    is_mine: Callable[[Row], bool], send: Callable[[Row, bool], bool],
                    save: Callable[[int | None, int | None], None],
                    out_of_time: Callable[[], bool]) -> bool:
    """Rows newer than point 1; True if every row was looked at."""
    unsaved = 0
    try:
        while True:
            rows = items_since(progress.point1, BATCH)
            if not rows:
                return True
            for row in rows:
                if out_of_time():
                    return False
                if is_mine(row):
                    if not send(row, False):
                        progress.failed += 1
                        return False  # point 1 stays before it: tried again next pass
                    progress.sent += 1
                    progress.rows.append(row["ROWID"])
                progress.point1 = row["ROWID"]
                unsaved += 1
                if unsaved >= SAVE_EVERY:
                    save(progress.point1, None)
                    unsaved = 0
    finally:
        if unsaved:
            save(progress.point1, None)
