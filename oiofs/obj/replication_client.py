"""The replicator's requests to its peers: suffix hashes, inventories, and file pushes.

Every request goes through keep-alive connections (:mod:`oiofs.common.connection_pool`),
since a pass makes a few small requests per partition to the same few servers. REPLICATE
requests may make the peer rehash suffixes, so they wait up to ``http_timeout``; pushes
wait up to ``node_timeout`` for each read or write. The verbs are described in
:mod:`oiofs.obj.replication_server`.

A push reads the local file's metadata (the peer stores it exactly as sent) and streams
the data from disk while computing its MD5. A file whose metadata does not decode, or
whose bytes do not match its ETag, is bad here: the caller quarantines it so that a good
copy comes back from a peer, rather than spreading it.
"""

from __future__ import annotations

import json
import os

from oiofs.common.backend_protocol import (
    EC_COMMIT_HEADER,
    EC_FRAG_INDEX_HEADER,
    POLICY_INDEX_HEADER,
    REPLICATION_HEADER,
    REPLICATION_META_LENGTH_HEADER,
    REPLICATION_OP_HEADER,
)
from oiofs.common.connection_pool import ConnectionPool, HTTPConnection, build_request_head
from oiofs.common.direct_client import backend_path
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    DiskFileCorrupt,
    NodeTimeout,
    OiofsError,
)
from oiofs.common.hashing import md5
from oiofs.common.storage_policy import StoragePolicy
from oiofs.obj import filenames
from oiofs.obj.metadata import dumps_metadata, read_metadata
from oiofs.obj.replication_server import OP_INVENTORY

#: largest JSON answer accepted from a peer (an inventory of a few suffixes is far less)
MAX_ANSWER = 256 * 1024 * 1024
_METHODS = {filenames.DATA: "PUT", filenames.META: "POST", filenames.TOMBSTONE: "DELETE"}


class ReplicationError(OiofsError):
    """A request to a peer failed: unreachable, timed out, or answered an error."""


class LocalFileBad(OiofsError):
    """The local file to push is corrupt (bad metadata, or bytes not matching the ETag)."""


def node_address(node: dict) -> tuple[str, int]:
    """Where to reach a ring device for replication (its replication address if set)."""
    return (node.get("replication_ip") or node["ip"],
            int(node.get("replication_port") or node["port"]))


class ReplicationClient:
    """Requests of one replicator process; ``requests`` counts every request made.

    ``on_progress`` is called after each request that finished (the lockup detector's
    heartbeat).
    """

    def __init__(self, conn_timeout: float = 0.5, node_timeout: float = 10.0,
                 http_timeout: float = 60.0, chunk_size: int = 65536,
                 user_agent: str = "object-replicator", on_progress=None):
        self.replicate_pool = ConnectionPool(conn_timeout, http_timeout)
        self.push_pool = ConnectionPool(conn_timeout, node_timeout)
        self.chunk_size = chunk_size
        self.user_agent = user_agent
        self.on_progress = on_progress or (lambda: None)
        self.requests = 0
        self.bytes_pushed = 0

    def close(self) -> None:
        """Close every idle connection."""
        self.replicate_pool.close_all()
        self.push_pool.close_all()

    # -- REPLICATE ---------------------------------------------------------------------------

    def _replicate(self, node: dict, partition: int, policy: StoragePolicy,
                   suffixes, op: str | None) -> dict:
        host, port = node_address(node)
        path = f"/{node['device']}/{partition}"
        if suffixes:
            path += "/" + "-".join(suffixes)
        headers = {POLICY_INDEX_HEADER: str(policy.idx),
                   "User-Agent": self.user_agent, "Content-Length": "0"}
        if op:
            headers[REPLICATION_OP_HEADER] = op
        self.requests += 1
        try:
            resp = self.replicate_pool.request(host, port, "REPLICATE", path, headers)
            try:
                body = resp.read_all(MAX_ANSWER)
            finally:
                resp.close()
        except (ClientException, ConnectionTimeout, NodeTimeout) as err:
            raise ReplicationError(f"REPLICATE {host}:{port}{path}: {err}") from None
        finally:
            self.on_progress()
        if resp.status != 200:
            raise ReplicationError(f"REPLICATE {host}:{port}{path} answered {resp.status}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise ReplicationError(f"REPLICATE {host}:{port}{path}: not JSON") from None
        if not isinstance(answer, dict):
            raise ReplicationError(f"REPLICATE {host}:{port}{path}: not a JSON object")
        return answer

    def get_hashes(self, node: dict, partition: int, policy: StoragePolicy,
                   suffixes=()) -> dict[str, str]:
        """The peer's ``{suffix: hash}``, after it rehashed ``suffixes``."""
        return self._replicate(node, partition, policy, suffixes, None)

    def inventory(self, node: dict, partition: int, policy: StoragePolicy,
                  suffixes) -> dict[str, dict]:
        """What the peer holds in ``suffixes``: ``{hash: {"ts", "ext", "meta"}}``."""
        return self._replicate(node, partition, policy, suffixes, OP_INVENTORY)

    # -- pushes ----------------------------------------------------------------------------

    def push(self, node: dict, partition: int, policy: StoragePolicy, file_path: str,
             ext: str | None = None) -> int:
        """Push one local object file to the peer; its HTTP status (201 stored, 409 had
        it or newer). ``ext`` is the kind of file (``.data``...) when its name does not
        say (a rebuilt archive in the device's ``tmp``).

        Raises :class:`LocalFileBad` when the local file is corrupt, and
        :class:`ReplicationError` when the peer cannot be reached or answers an error
        other than 409.
        """
        ext = ext or os.path.splitext(file_path)[1]
        fd = os.open(file_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                metadata, data_length = read_metadata(fd)
            except DiskFileCorrupt as err:
                raise LocalFileBad(f"{file_path}: {err}") from None
            if data_length is None:
                data_length = os.fstat(fd).st_size
            if ext != filenames.DATA:
                data_length = 0
            name = metadata.get("name", "")
            parts = name[1:].split("/", 2) if name.startswith("/") else []
            if len(parts) != 3 or not all(parts):
                raise LocalFileBad(f"{file_path}: no valid object name in metadata")
            if ext == filenames.DATA and metadata.get("Content-Length") != str(data_length):
                raise LocalFileBad(f"{file_path}: data is {data_length} bytes, metadata "
                                   f"says {metadata.get('Content-Length')}")
            raw = dumps_metadata(metadata)
            host, port = node_address(node)
            path = backend_path(node["device"], partition, *parts)
            headers = {
                REPLICATION_HEADER: "true",
                REPLICATION_META_LENGTH_HEADER: str(len(raw)),
                "Content-Length": str(len(raw) + data_length),
                POLICY_INDEX_HEADER: str(policy.idx),
                "X-Timestamp": metadata.get("X-Timestamp", ""),
                "User-Agent": self.user_agent,
            }
            head = build_request_head(_METHODS[ext], path, f"{host}:{port}", headers)
            self.requests += 1
            try:
                status = self._send(host, port, _METHODS[ext], head + raw, fd, data_length,
                                    metadata.get("ETag") if ext == filenames.DATA else None,
                                    file_path)
            finally:
                self.on_progress()
        finally:
            os.close(fd)
        if status not in (201, 409):
            raise ReplicationError(f"{_METHODS[ext]} {host}:{port}{path} answered {status}")
        if status == 201:
            self.bytes_pushed += data_length
        return status

    def commit(self, node: dict, partition: int, policy: StoragePolicy, name: str,
               timestamp: str, frag_index: int, footers: dict[str, str]) -> int:
        """Ask the peer to make its archive ``frag_index`` of the write at ``timestamp``
        durable with ``footers`` (the second phase of an erasure-coded PUT, whose
        commit the peer never got); its status (201 done, 404 no such archive there).

        Raises :class:`ReplicationError` when the peer cannot be reached or answers
        another error.
        """
        host, port = node_address(node)
        parts = name[1:].split("/", 2)
        path = backend_path(node["device"], partition, *parts)
        headers = {POLICY_INDEX_HEADER: str(policy.idx), "X-Timestamp": timestamp,
                   EC_FRAG_INDEX_HEADER: str(frag_index), EC_COMMIT_HEADER: "yes",
                   "Content-Length": "0", "User-Agent": self.user_agent, **footers}
        self.requests += 1
        try:
            resp = self.push_pool.request(host, port, "PUT", path, headers)
            resp.discard()
        except (ClientException, ConnectionTimeout, NodeTimeout) as err:
            raise ReplicationError(f"commit {host}:{port}{path}: {err}") from None
        finally:
            self.on_progress()
        if resp.status not in (201, 404):
            raise ReplicationError(f"commit {host}:{port}{path} answered {resp.status}")
        return resp.status

    def _send(self, host: str, port: int, method: str, first: bytes, fd: int, length: int,
              etag: str | None, file_path: str) -> int:
        conn = None
        for attempt in (1, 2):
            conn = self.push_pool.get(host, port)
            try:
                return self._send_on(conn, method, first, fd, length, etag, file_path)
            except (ClientException, NodeTimeout, ConnectionTimeout) as err:
                conn.close()
                # a kept-alive connection the peer closed while idle: once more, fresh
                if attempt == 1 and conn.reused and not isinstance(err, NodeTimeout):
                    continue
                raise ReplicationError(f"push to {host}:{port}: {err}") from None
            except BaseException:
                conn.close()  # killed mid-push: never reuse a half-sent request
                raise
        raise AssertionError("unreachable")

    def _send_on(self, conn: HTTPConnection, method: str, first: bytes, fd: int,
                 length: int, etag: str | None, file_path: str) -> int:
        conn.send(first)
        hasher = md5()
        offset = 0
        while offset < length:
            chunk = os.pread(fd, min(self.chunk_size, length - offset), offset)
            if not chunk:
                # shorter than its metadata says: the peer sees a truncated body and
                # stores nothing; the file is bad here
                conn.close()
                raise LocalFileBad(f"{file_path}: data ends at {offset} of {length} bytes")
            hasher.update(chunk)
            conn.send(chunk)
            offset += len(chunk)
        resp = conn.get_response(method)
        status = resp.status
        resp.discard()
        if etag is not None and hasher.hexdigest() != etag.lower():
            raise LocalFileBad(f"{file_path}: bytes do not match ETag {etag}")
        return status
