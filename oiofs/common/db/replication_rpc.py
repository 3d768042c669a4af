"""The peer's side of database replication: the ``REPLICATE`` verb of db servers.

``REPLICATE /<device>/<partition>/<hash>`` (``docs/backend-protocol.md``) carries one
operation on the database whose name hashes to ``<hash>``:

* a JSON body ``[op, args...]``:

  - ``["sync", info]``: a replicator's view of its replica (``get_replication_info``).
    Its metadata and timestamps are merged here; the answer is our replication info
    plus ``point``, the last of the sender's rows we hold. 404 when there is no database.
  - ``["merge_items", rows, sender_id]``: rows in ROWID order with no gaps; merged in
    one transaction, and the sender's incoming sync point moves to the last one. 204.
  - ``["merge_syncs", sync_points]``: the sender's incoming sync points, which hold for
    us too once we have all its rows. 204.

* a whole database (``Content-Type: application/vnd.sqlite3``, ``Content-Length``,
  ``X-Backend-Replication-Id: <sender's db id>``): a consistent snapshot of the sender's
  replica. It is written to the device's ``tmp`` directory and fsynced, checked (sqlite
  ``quick_check``, schema, and that its account/container hash to ``<hash>``), then linked
  into place if there is still no database here (201), or else its rows, sync points,
  metadata and timestamps are merged into ours (202). A crash leaves at worst a temporary
  file that a later pass removes; never a partial database under the real name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from oiofs.common import runtime
from oiofs.common.backend_protocol import REPLICATION_ID_HEADER
from oiofs.common.db.broker import DatabaseBroker
from oiofs.common.db.replication_walk import COPY_PREFIX, db_file_for_hash, is_valid_hash
from oiofs.common.db.replication_walk import tmp_dir as device_tmp_dir
from oiofs.common.exceptions import (
    DbNotFound,
    DbQuarantined,
    DiskFileNoSpace,
    HTTPBadRequest,
    HTTPLengthRequired,
    HTTPNotFound,
    HTTPRequestEntityTooLarge,
    HTTPUnprocessableEntity,
    HTTPUnsupportedMediaType,
)
from oiofs.common.fsutils import fsync_dir, mkdirs, mkdirs_durable
from oiofs.common.hashing import hash_path
from oiofs.common.http.body import RequestBody
from oiofs.common.timestamp import Timestamp

SQLITE_CONTENT_TYPE = "application/vnd.sqlite3"
JSON_CONTENT_TYPE = "application/json"
#: the largest JSON operation accepted (a batch of rows is far smaller)
MAX_JSON_BODY = 64 * 1024 * 1024
#: rows merged per transaction when a received copy is merged into an existing database
MERGE_BATCH = 1000
_READ_SIZE = 65536

# what a "sync" operation must carry: key -> accepted JSON types
_SYNC_FIELDS = {"id": str, "hash": str, "max_row": int, "created_at": str,
                "put_timestamp": str, "delete_timestamp": str, "metadata": str}


def _check_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise HTTPBadRequest("Invalid replica id")
    return value


def parse_sync_info(info: object) -> dict[str, Any]:
    """The sender's replication info from a ``sync`` operation; 400 if malformed."""
    if not isinstance(info, dict):
        raise HTTPBadRequest("sync needs the replication info")
    for key, kind in _SYNC_FIELDS.items():
        value = info.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise HTTPBadRequest(f"sync: invalid {key}")
    _check_id(info["id"])
    timestamps = ["created_at", "put_timestamp", "delete_timestamp"]
    if "storage_policy_index" in info:  # containers: compared by policy_choice
        policy, count = info["storage_policy_index"], info.get("count")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in (policy, count)):
            raise HTTPBadRequest("sync: invalid storage_policy_index or count")
        if not isinstance(info.get("status_changed_at"), str):
            raise HTTPBadRequest("sync: invalid status_changed_at")
        timestamps.append("status_changed_at")
    try:
        for key in timestamps:
            Timestamp(info[key])
        metadata = json.loads(info["metadata"]) if info["metadata"] else {}
    except ValueError:
        raise HTTPBadRequest("sync: invalid timestamps or metadata") from None
    if not isinstance(metadata, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
            for v in metadata.values()):
        raise HTTPBadRequest("sync: invalid metadata")
    return dict(info, metadata=metadata)


def parse_items(items: object, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of a ``merge_items`` operation, checked: ROWIDs increasing, scalar values."""
    if not isinstance(items, list):
        raise HTTPBadRequest("merge_items needs a list of rows")
    last = None
    for item in items:
        if not isinstance(item, dict):
            raise HTTPBadRequest("Invalid row")
        rowid = item.get("ROWID")
        if not isinstance(rowid, int) or isinstance(rowid, bool) or (
                last is not None and rowid <= last):
            raise HTTPBadRequest("Rows must come in increasing ROWID order")
        last = rowid
        for column in columns:
            value = item.get(column)
            if column not in item or isinstance(value, (bool, float, list, dict)):
                raise HTTPBadRequest(f"Invalid row field {column}")
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise HTTPBadRequest("Invalid row name")
    return items


def parse_sync_points(points: object) -> list[dict[str, Any]]:
    """Sync points of a ``merge_syncs`` operation, checked."""
    if not isinstance(points, list):
        raise HTTPBadRequest("merge_syncs needs a list")
    for point in points:
        if not isinstance(point, dict):
            raise HTTPBadRequest("Invalid sync point")
        _check_id(point.get("remote_id"))
        value = point.get("sync_point")
        if not isinstance(value, int) or isinstance(value, bool):
            raise HTTPBadRequest("Invalid sync point")
    return points


def merge_replica_state(broker: DatabaseBroker, info: dict[str, Any],
                        remote: dict[str, Any]) -> None:
    """Merge a replica's metadata and timestamps (``remote``, parsed) into ``broker``.

    ``info`` is the broker's own replication info: nothing is written when they agree.
    What the broker's type keeps besides (the container's storage policy) is merged
    first, from both states as they were before this merge.
    """
    broker.merge_remote_state(info, remote)
    metadata = remote["metadata"]
    if metadata and metadata != (json.loads(info["metadata"]) if info["metadata"] else {}):
        broker.update_metadata(metadata)
    keys = ("created_at", "put_timestamp", "delete_timestamp")
    deleted = remote.get("status") == "DELETED" and Timestamp(
        remote["delete_timestamp"]) > Timestamp(remote["put_timestamp"])
    if any(info[k] != remote[k] for k in keys) or (deleted and info.get("status") != "DELETED"):
        broker.merge_timestamps(remote["created_at"], remote["put_timestamp"],
                                remote["delete_timestamp"], deleted_status=deleted)


class ReplicationHost(Protocol):
    """What :class:`ReplicationRpc` uses of its server (a ``DbServerApp``)."""

    @property
    def devices(self) -> str: ...
    @property
    def datadir(self) -> str: ...
    @property
    def db_busy_timeout(self) -> float: ...
    @property
    def logger(self) -> logging.Logger: ...
    @property
    def broker_class(self) -> type[DatabaseBroker]: ...
    @property
    def fsync(self) -> Callable[[int], None]: ...

    def split_db_path(self, req: Request, minsegs: int, maxsegs: int,
                      rest_with_last: bool = False) -> list[Any]: ...


class ReplicationRpc:
    """The ``REPLICATE`` handler of a :class:`~oiofs.common.db.server.DbServerApp`.

    Uses the app's ``devices``, ``datadir``, ``broker_class``, ``db_busy_timeout``,
    ``fsync`` and ``logger``; errors are raised as HTTP errors or as database errors the
    app's ``translate_error`` maps.
    """

    def __init__(self, app: ReplicationHost):
        self.app = app
        self.logger = app.logger

    def _broker(self, db_file: str) -> DatabaseBroker:
        return self.app.broker_class(db_file, timeout=self.app.db_busy_timeout,
                                     logger=self.logger, pending_timeout=10.0)

    def handle(self, req: Request) -> Response:
        """Answer one REPLICATE request (see the module docstring)."""
        device, partition, name_hash = self.app.split_db_path(req, 3, 3)
        if not is_valid_hash(name_hash):
            raise HTTPBadRequest("Invalid database hash")
        db_file = db_file_for_hash(self.app.devices, device, self.app.datadir, partition,
                                   name_hash)
        content_type = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        if content_type == SQLITE_CONTENT_TYPE:
            return self.receive_copy(req, device, db_file, name_hash)
        if content_type not in ("", JSON_CONTENT_TYPE):
            raise HTTPUnsupportedMediaType()
        length = req.content_length
        if length is None:
            raise HTTPLengthRequired()
        if length > MAX_JSON_BODY:
            raise HTTPRequestEntityTooLarge()
        try:
            body = json.loads(RequestBody.of(req.environ, length).read_exact(length))
        except ValueError:
            raise HTTPBadRequest("Invalid JSON") from None
        if not isinstance(body, list) or not body or not isinstance(body[0], str):
            raise HTTPBadRequest("Expected [operation, arguments...]")
        op, args = body[0], body[1:]
        broker = self._broker(db_file)
        try:
            if op == "sync" and len(args) == 1:
                return self.sync(broker, parse_sync_info(args[0]))
            if op == "merge_items" and len(args) == 2:
                rows = parse_items(args[0], broker.item_columns)
                return self.merge_items(broker, rows, _check_id(args[1]))
            if op == "merge_syncs" and len(args) == 1:
                broker.merge_syncs(parse_sync_points(args[0]), incoming=True)
                return Response(status=204)
        finally:
            broker.close()
        raise HTTPBadRequest(f"Unknown operation {op!r} or wrong arguments")

    # --- JSON operations --------------------------------------------------------------

    def sync(self, broker: DatabaseBroker, remote: dict[str, Any]) -> Response:
        """Merge the sender's metadata and timestamps; answer our info and its point."""
        if not broker.exists():
            raise HTTPNotFound()
        try:
            info = broker.get_replication_info()
        except DbQuarantined:
            # it was unreadable and is gone now: the sender's copy replaces it at once
            raise HTTPNotFound("Database was corrupt and is quarantined") from None
        merge_replica_state(broker, info, remote)
        point = broker.get_sync(remote["id"])
        if remote["hash"] == info["hash"] and point < remote["max_row"]:
            # same rows: we hold everything the sender has, whatever the points said
            broker.merge_syncs([{"remote_id": remote["id"], "sync_point": remote["max_row"]}])
            point = remote["max_row"]
        info["point"] = point
        return Response(json.dumps(info), status=200, content_type=JSON_CONTENT_TYPE)

    @staticmethod
    def merge_items(broker: DatabaseBroker, rows: list[dict[str, Any]], sender_id: str
                    ) -> Response:
        """Merge a batch of the sender's rows (404 if we have no database)."""
        if not broker.exists():
            raise HTTPNotFound()
        try:
            broker.merge_items(rows, source=sender_id)
        except (KeyError, TypeError, ValueError) as err:
            raise HTTPBadRequest(f"Invalid rows: {err}") from None
        return Response(status=204)

    # --- whole copies -----------------------------------------------------------------

    def receive_copy(self, req: Request, device: str, db_file: str, name_hash: str
                     ) -> Response:
        """Store an uploaded database, then put it in place or merge it (module doc)."""
        sender_id = _check_id(req.headers.get(REPLICATION_ID_HEADER))
        length = req.content_length
        if length is None:
            raise HTTPLengthRequired()
        directory = device_tmp_dir(self.app.devices, device)
        mkdirs(directory)
        tmp = os.path.join(directory, f"{COPY_PREFIX}{uuid.uuid4().hex}.db")
        try:
            self._write_upload(RequestBody.of(req.environ, length), tmp)
            account, container = self._check_copy(tmp, name_hash)
            copy = self._broker(tmp)
            try:
                if not os.path.exists(db_file) and self._place(copy, tmp, db_file,
                                                                sender_id):
                    self.logger.info("replication: received %s/%s as a new database",
                                     account, container or "")
                    return Response(status=201)
                merged = self._merge_copy(copy, self._broker(db_file), sender_id)
            finally:
                copy.close()
        finally:
            for path in (tmp, tmp + "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        self.logger.info("replication: merged %d rows of a copy of %s/%s", merged, account,
                         container or "")
        return Response(status=202)

    def _write_upload(self, body: RequestBody, tmp: str) -> None:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFileNoSpace(str(err)) from err
            raise
        try:
            for chunk in body.chunks(_READ_SIZE):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            # the copy may become the only replica here: it must be on disk before sqlite
            # opens it and before it is linked under the real name
            self.app.fsync(fd)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFileNoSpace(str(err)) from err
            raise
        finally:
            os.close(fd)

    def _check_copy(self, path: str, name_hash: str) -> tuple[str, str | None]:
        """``(account, container)`` of an uploaded database; 422 unless it is a sound
        database of our type whose name hashes to ``name_hash``."""
        cls = self.app.broker_class
        try:
            conn = sqlite3.connect(path, timeout=self.app.db_busy_timeout)
            try:
                check = conn.execute("PRAGMA quick_check").fetchall()
                columns = "account, container" if cls.db_type == "container" else "account"
                row = conn.execute(f"SELECT {columns} FROM {cls.db_type}_stat").fetchone()
                conn.execute(f"SELECT ROWID FROM {cls.db_contains_type} LIMIT 1").fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as err:
            raise HTTPUnprocessableEntity(f"Not a usable database: {err}") from None
        if check != [("ok",)] or not row:
            raise HTTPUnprocessableEntity("Database copy fails its integrity check")
        account, container = row[0], (row[1] if len(row) > 1 else None)
        if not isinstance(account, str) or (cls.db_type == "container" and not (
                isinstance(container, str) and container)):
            raise HTTPUnprocessableEntity("Database copy has no name")
        if hash_path(account, container) != name_hash:
            raise HTTPUnprocessableEntity("Database copy is not the one of this hash")
        return account, container

    def _place(self, copy: DatabaseBroker, tmp: str, db_file: str, sender_id: str) -> bool:
        """Link the copy under ``db_file``; False if a database appeared there meanwhile."""
        # a new id: this replica now lives its own life; it holds all the sender's rows
        copy.newid(sender_id)
        copy.close()
        db_dir = os.path.dirname(db_file)
        device_dir = os.path.abspath(os.path.join(db_dir, "..", "..", "..", ".."))
        mkdirs_durable(db_dir, device_dir)
        try:
            # link, not rename: it refuses to replace a database created since we looked
            os.link(tmp, db_file)
        except FileExistsError:
            return False
        fsync_dir(db_dir)
        return True

    def _merge_copy(self, copy: DatabaseBroker, broker: DatabaseBroker, sender_id: str
                    ) -> int:
        """Merge every row, sync point, metadata and timestamp of ``copy`` into
        ``broker``; the number of rows read from the copy."""
        try:
            point = -1
            merged = 0
            while True:
                rows = copy.get_items_since(point, MERGE_BATCH)
                if not rows:
                    break
                # ROWID order without gaps: the sender's incoming point moves with them
                broker.merge_items(rows, source=sender_id)
                point = rows[-1]["ROWID"]
                merged += len(rows)
                runtime.sleep(0)  # a long merge must not starve the server's requests
            broker.merge_syncs(copy.get_syncs(incoming=True))
            info = broker.get_replication_info()
            merge_replica_state(broker, info, parse_sync_info(copy.get_replication_info()))
        except DbNotFound:
            raise HTTPNotFound("Database removed during the merge") from None
        finally:
            broker.close()
        return merged
