"""Removing one database replica safely: nothing queued, nothing merged since it was read.

Used by the replicator (a handoff every primary holds, a reclaimed deleted database) and
by the ``remove`` admin operation (``docs/directory.md``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from logging import Logger

from oiofs.common.db.broker import DatabaseBroker
from oiofs.common.exceptions import DbError, LockTimeout
from oiofs.common.fsutils import fsync_dir


def remove_db(broker: DatabaseBroker, expected_max_row: int, logger: Logger) -> bool:
    """Remove a database that has nothing left to give; False if it changed since.

    Under the pending file's lock (no update can be queued) and sqlite's write lock (no
    merge can run), the database must have no queued updates and the same last row
    as when it was replicated. The db file goes first: once it is gone the database
    no longer exists, whatever a crash leaves of its directory.
    """
    pending = broker.pending_file
    try:
        fd = os.open(pending, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        return False
    try:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{pending} stays locked") from None
                time.sleep(0.01)
        if os.fstat(fd).st_size:
            return False  # updates arrived after the pass looked
        with broker.get() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if broker._max_row(conn) != expected_max_row:
                    return False
                os.unlink(broker.db_file)
                fsync_dir(broker.db_dir)
                # unlinked under the lock: a writer waiting for it sees the file is
                # gone (see PendingFile.add) instead of appending to a lost file
                os.unlink(pending)
            finally:
                conn.execute("ROLLBACK")
    except (DbError, LockTimeout) as err:
        logger.warning("cannot remove %s now: %s", broker.db_file, err)
        return False
    finally:
        os.close(fd)
        broker.close()
    _remove_leftovers(broker.db_dir)
    return True


def _remove_leftovers(db_dir: str) -> None:
    """Remove what is left of a removed database's directory (and an empty suffix dir)."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(db_dir):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(os.path.join(db_dir, name))
    for directory in (db_dir, os.path.dirname(db_dir)):
        try:
            os.rmdir(directory)
        except OSError:
            break  # not empty (another database of the suffix), or already gone
