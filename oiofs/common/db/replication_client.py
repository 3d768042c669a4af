"""The replicator's side of the ``REPLICATE`` verb: requests to one peer database.

:class:`ReplicationPeer` sends the operations of :mod:`oiofs.common.db.replication_rpc`
to the replica of one database on one ring node, over keep-alive connections of a shared
:class:`~oiofs.common.connection_pool.ConnectionPool`. :func:`make_snapshot` makes the
consistent copy of a local database that :meth:`ReplicationPeer.send_copy` streams.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from typing import Any

from oiofs.common.backend_protocol import REPLICATION_ID_HEADER
from oiofs.common.connection_pool import ConnectionPool, build_request_head
from oiofs.common.db.broker import DatabaseBroker
from oiofs.common.db.replication_rpc import (
    JSON_CONTENT_TYPE,
    SQLITE_CONTENT_TYPE,
)
from oiofs.common.db.replication_walk import SNAPSHOT_PREFIX
from oiofs.common.direct_client import backend_path
from oiofs.common.exceptions import ClientException
from oiofs.common.fsutils import mkdirs
from oiofs.common.ring.devices import Device

_SEND_SIZE = 65536


class PeerDeviceUnavailable(ClientException):
    """The peer answered 507: its device is not mounted (try a handoff instead)."""


def make_snapshot(broker: DatabaseBroker, directory: str) -> str:
    """A consistent copy of ``broker``'s database in a new file of ``directory``.

    sqlite's online backup copies every page in one step under a read lock, so the copy
    is the database as of one transaction, ROWIDs included, even while the server keeps
    writing (writers wait for the copy, they are never mixed into it). The caller removes
    the file. No fsync: the snapshot is only read back to be sent, and a crash makes it
    garbage that a later pass removes.
    """
    mkdirs(directory)
    path = os.path.join(directory, f"{SNAPSHOT_PREFIX}{uuid.uuid4().hex}.db")
    try:
        target = sqlite3.connect(path)
        try:
            with broker.get() as conn:
                conn.backup(target)
        finally:
            target.close()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return path


class ReplicationPeer:
    """The replica of one database (``name_hash``) on one ring node.

    Every method makes one request and counts it in ``requests``. Network failures raise
    :class:`~oiofs.common.exceptions.ConnectionTimeout`,
    :class:`~oiofs.common.exceptions.NodeTimeout` or :class:`ClientException`; a 507
    raises :class:`PeerDeviceUnavailable`.
    """

    def __init__(self, pool: ConnectionPool, node: Device, partition: int, name_hash: str):
        self.pool = pool
        self.node = node
        self.ip = node.get("replication_ip") or node["ip"]
        self.port = int(node.get("replication_port") or node["port"])
        self.path = backend_path(node["device"], partition, name_hash)
        self.requests = 0

    def __repr__(self) -> str:
        return f"{self.ip}:{self.port}{self.path}"

    def _call(self, op: str, *args: object) -> tuple[int, bytes]:
        body = json.dumps([op, *args], separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": JSON_CONTENT_TYPE, "Content-Length": str(len(body)),
                   "User-Agent": "db-replicator"}
        self.requests += 1
        resp = self.pool.request(self.ip, self.port, "REPLICATE", self.path, headers, body)
        try:
            data = resp.read_all(64 * 1024 * 1024)
        finally:
            resp.close()
        if resp.status == 507:
            raise PeerDeviceUnavailable(f"{self}: device not available", http_status=507,
                                        http_host=self.ip, http_port=self.port)
        return resp.status, data

    def _expect_success(self, op: str, status: int) -> None:
        if not 200 <= status < 300:
            raise ClientException(f"{self}: {op} answered {status}", http_status=status,
                                  http_host=self.ip, http_port=self.port)

    def sync(self, info: dict[str, Any]) -> dict[str, Any] | None:
        """Send our replication info; the peer's (with ``point``), or None if it has no
        database."""
        status, data = self._call("sync", info)
        if status == 404:
            return None
        self._expect_success("sync", status)
        try:
            remote: dict[str, Any] = json.loads(data)  # checked by the look-ups below
            int(remote["max_row"]), int(remote["point"]), str(remote["id"])
        except (ValueError, KeyError, TypeError):
            raise ClientException(f"{self}: sync answered an unreadable body") from None
        return remote

    def merge_items(self, rows: list[dict[str, Any]], local_id: str) -> None:
        """Send a batch of our rows (ROWID order, no gaps)."""
        status, _data = self._call("merge_items", rows, local_id)
        self._expect_success("merge_items", status)

    def merge_syncs(self, sync_points: list[dict[str, Any]]) -> None:
        """Send our incoming sync points (valid for the peer once it has all our rows)."""
        status, _data = self._call("merge_syncs", sync_points)
        self._expect_success("merge_syncs", status)

    def send_copy(self, snapshot: str, local_id: str, response_timeout: float) -> int:
        """Stream a snapshot of our database; the status (201 placed, 202 merged)."""
        size = os.path.getsize(snapshot)
        headers = {"Content-Type": SQLITE_CONTENT_TYPE, "Content-Length": str(size),
                   REPLICATION_ID_HEADER: local_id, "User-Agent": "db-replicator"}
        self.requests += 1
        conn = self.pool.connect(self.ip, self.port)
        try:
            conn.send(build_request_head("REPLICATE", self.path, f"{self.ip}:{self.port}",
                                         headers))
            with open(snapshot, "rb") as handle:
                while True:
                    chunk = handle.read(_SEND_SIZE)
                    if not chunk:
                        break
                    conn.send(chunk)
            # the peer checks and maybe merges the copy before it answers
            conn.sock.settimeout(response_timeout)
            resp = conn.get_response("REPLICATE")
            resp.read_all()
        finally:
            conn.close()
        if resp.status == 507:
            raise PeerDeviceUnavailable(f"{self}: device not available", http_status=507)
        self._expect_success("copy", resp.status)
        return resp.status
