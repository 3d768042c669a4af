"""``container-sync``: mirrors containers into containers of another cluster.

Each pass walks the local container databases of this node's devices. A database is
synced when its container has both ``X-Container-Sync-To`` and ``X-Container-Sync-Key``
and this node holds one of its primaries (handoff copies are not synced); the rows it
sends are chosen by the two sync points (:mod:`oiofs.container.sync_points`).

A row is sent to the remote container through the remote cluster's proxy:

* a live object: its body is streamed from the local object servers (the first primary
  that has the row's version; a newer version means a newer row will send it; all
  primaries answering 404 means the object is gone and the row is skipped without
  error), and sent as ``PUT`` with its content type, ETag, metadata, stored headers,
  expiry, large-object headers and ``X-Timestamp`` = the row's newest timestamp (data or
  metadata, as Swift does);
* a deletion: ``DELETE`` with the row's ``X-Timestamp``.

When a row is only confirmed (stage 1 of the sync points), a ``HEAD`` first asks the
remote whether it already has that version or a newer one; only a missing row is sent.
Every request is signed: ``X-Container-Sync-Auth: <realm> <nonce> <signature>`` for
realm targets, ``X-Container-Sync-Key`` for full-URL targets (host in
``allowed_sync_hosts``). A remote answer 2xx, or 404/409 to a DELETE, or 202 to a PUT
(the remote has this version or a newer one), acknowledges the row.

Each container gets at most ``container_time`` seconds per pass; the rest is resumed
next pass. One summary line per pass: containers synced, skipped (sync settings
incomplete or invalid), failed; rows put, deleted, confirmed, skipped (gone locally),
refused for good by the remote (400, 411, 413, 422: beyond its limits; logged as errors
and passed over, or the container would never sync past them).

Options (``[container-sync]``, with ``[DEFAULT]``): ``devices``, ``mount_check``,
``bind_ip``/``bind_port``, ``oiofs_dir`` (rings, ``container-sync-realms.conf``),
``interval`` (300 s), ``container_time`` (60 s), ``allowed_sync_hosts`` (127.0.0.1),
``conn_timeout`` (5 s), ``node_timeout`` (10 s), ``db_busy_timeout`` (25 s).
"""

from __future__ import annotations

import http.client
import os
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.config import conf_float, conf_list, oiofs_dir
from oiofs.common.container_sync_realms import (
    REALMS_FILE,
    ContainerSyncRealms,
    SyncTarget,
    SyncToError,
    get_sig,
    make_nonce,
    resolve_sync_to,
)
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.replication_walk import iter_db_files, local_db_devices
from oiofs.common.direct_client import backend_path, http_connect
from oiofs.common.exceptions import DbNotFound, DbQuarantined, InvalidTimestamp
from oiofs.common.local_devices import primary_index, whataremyips
from oiofs.common.ring import Ring
from oiofs.common.ring.policy_rings import ObjectRings
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker, decode_timestamps
from oiofs.container.sync_points import Row, row_owner, run_sync_points

CHUNK = 65536
#: object answer headers not passed on to the remote (the PUT sets its own)
SKIPPED_HEADERS = frozenset(("content-length", "etag", "last-modified", "x-timestamp",
                             "accept-ranges", "date", "connection", "transfer-encoding",
                             "content-range"))
NETWORK_ERRORS = (OSError, http.client.HTTPException)
#: remote answers that refuse a row for good (it breaks the remote's limits): the row is
#: logged as refused and passed, or the container would never sync past it
REFUSED_FOR_GOOD = frozenset((400, 411, 413, 422))


@dataclass
class ContainerSyncStats(PassStats):
    """What one pass did (containers, then rows)."""

    containers_synced: int = 0
    containers_skipped: int = 0
    containers_failed: int = 0
    puts: int = 0
    deletes: int = 0
    confirmed: int = 0
    gone_locally: int = 0
    refused: int = 0
    row_failures: int = 0
    requests: int = 0


class RowFailed(Exception):
    """A row could not be sent this time (logged; tried again later)."""


def _metadata_value(metadata: dict, name: str) -> str:
    for key, value in metadata.items():
        if key.lower() == name and value and value[0]:
            return str(value[0])
    return ""


class ContainerSync(Daemon):
    """Syncs the local containers that have sync settings; see the module docstring."""

    name = "container-sync"

    def __init__(self, conf: dict, logger=None, container_ring: Ring | None = None,
                 clock=time.monotonic):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 300.0)
        self.devices = conf.get("devices", "/srv/node")
        self.container_time = conf_float(conf, "container_time", 60.0)
        self.conn_timeout = conf_float(conf, "conn_timeout", 5.0)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.db_busy_timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.allowed_sync_hosts = conf_list(conf, "allowed_sync_hosts", "127.0.0.1")
        self.oiofs_dir = oiofs_dir(conf)
        self.realms = ContainerSyncRealms(os.path.join(self.oiofs_dir, REALMS_FILE))
        self.container_ring = container_ring or Ring(self.oiofs_dir, ring_name="container")
        self._object_rings = ObjectRings(self.oiofs_dir)
        self.my_ips = whataremyips(conf.get("bind_ip"))
        self.bind_port = int(conf.get("bind_port", 0) or 0)
        self.clock = clock
        self.stats = ContainerSyncStats()

    def object_ring(self, policy_index: int) -> Ring:
        """The object ring of a policy; :class:`RowFailed` if the policy is unknown."""
        ring = self._object_rings.get(policy_index)
        if ring is None:
            raise RowFailed(f"unknown storage policy {policy_index}")
        return ring

    # -- a pass ----------------------------------------------------------------------------

    def run_once(self, **kwargs) -> ContainerSyncStats:
        """Sync every local container that has sync settings; the pass's counters."""
        self.stats = stats = ContainerSyncStats()
        for dev in local_db_devices(self.container_ring, self.conf, self.logger):
            for _part, db_file in iter_db_files(self.devices, dev["device"], "containers"):
                if self.stopping:
                    break
                try:
                    self.container_sync(db_file, dev)
                except Exception:  # one bad database must not end the pass
                    stats.containers_failed += 1
                    self.logger.exception("container sync of %s failed", db_file)
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def container_sync(self, db_file: str, dev: dict) -> None:
        """Send what one container database's sync points say this replica must send."""
        broker = ContainerBroker(db_file, timeout=self.db_busy_timeout, logger=self.logger,
                                 stale_reads_ok=True)
        try:
            try:
                info, deleted = broker.get_info_is_deleted()
                metadata = broker.metadata
            except (DbQuarantined, DbNotFound):
                return
            if deleted:
                return
            sync_to = _metadata_value(metadata, "x-container-sync-to")
            user_key = _metadata_value(metadata, "x-container-sync-key")
            if not sync_to and not user_key:
                return  # not a synced container
            if not sync_to or not user_key:
                self.stats.containers_skipped += 1
                return
            try:
                target = resolve_sync_to(sync_to, self.realms.realms(),
                                         self.allowed_sync_hosts)
            except SyncToError as err:
                self.logger.warning("%s/%s: cannot sync: %s", info["account"],
                                    info["container"], err)
                self.stats.containers_skipped += 1
                return
            _part, nodes = self.container_ring.get_nodes(info["account"], info["container"])
            index = primary_index(nodes, dev["device"], self.my_ips, self.bind_port)
            if index is None:
                return  # a handoff copy: the primaries sync
            self._sync_rows(broker, info, target, user_key, index, len(nodes))
        finally:
            broker.close()

    def _sync_rows(self, broker: ContainerBroker, info: dict, target: SyncTarget,
                   user_key: str, index: int, replicas: int) -> None:
        account, container = info["account"], info["container"]
        deadline = self.clock() + self.container_time

        def send(row: Row, confirm: bool) -> bool:
            try:
                return self.sync_row(row, confirm, target, user_key, account, container)
            except RowFailed as err:
                self.stats.row_failures += 1
                self.logger.warning("%s/%s: row %r not synced: %s", account, container,
                                    row["name"], err)
                return False

        progress = run_sync_points(
            info["x_container_sync_point1"], info["x_container_sync_point2"],
            broker.get_items_since,
            lambda row: row_owner(account, container, row["name"], replicas) == index,
            send, broker.set_x_container_sync_points,
            lambda: self.stopping or self.clock() >= deadline)
        if progress.failed:
            self.stats.containers_failed += 1
        else:
            self.stats.containers_synced += 1

    # -- one row ---------------------------------------------------------------------------

    def sync_row(self, row: Row, confirm: bool, target: SyncTarget, user_key: str,
                 account: str, container: str) -> bool:
        """Make the remote have ``row``; True once it acknowledged (or has it already).

        Raises :class:`RowFailed` when the row must be tried again later.
        """
        _data, _ctype, meta = decode_timestamps(row["created_at"])
        path = f"{urlsplit(target.url).path}/{row['name']}"
        if confirm and self._remote_has(target, path, user_key, meta, bool(row["deleted"])):
            self.stats.confirmed += 1
            return True
        if row["deleted"]:
            status, _stamp = self._remote_request(target, "DELETE", path, user_key, meta)
            if status in (404, 409) or 200 <= status < 300:
                self.stats.deletes += 1
                return True
            raise RowFailed(f"remote DELETE answered {status}")
        return self._send_object(row, target, path, user_key, meta, account, container)

    def _signed_headers(self, target: SyncTarget, method: str, path: str, user_key: str,
                        timestamp: Timestamp) -> dict[str, str]:
        headers = {"X-Timestamp": timestamp.internal, "User-Agent": self.name}
        if target.realm is not None:
            nonce = make_nonce()
            sig = get_sig(method, quote(path), timestamp.internal, nonce, target.realm.key,
                          user_key)
            headers["X-Container-Sync-Auth"] = f"{target.realm.name} {nonce} {sig}"
        else:
            headers["X-Container-Sync-Key"] = user_key
        return headers

    def _connect(self, target: SyncTarget, method: str, path: str,
                 headers: dict[str, str]) -> http.client.HTTPConnection:
        url = urlsplit(target.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        self.stats.requests += 1
        if url.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.hostname or "", port, timeout=self.node_timeout)
            conn.putrequest(method, quote(path), skip_accept_encoding=True)
            for key, value in headers.items():
                conn.putheader(key, value)
            return conn
        return http_connect(url.hostname or "", port, method, quote(path), headers,
                            conn_timeout=self.conn_timeout,
                            response_timeout=self.node_timeout)

    def _remote_request(self, target: SyncTarget, method: str, path: str, user_key: str,
                        timestamp: Timestamp) -> tuple[int, str | None]:
        """A bodiless signed request to the remote; its status and ``X-Timestamp``."""
        headers = self._signed_headers(target, method, path, user_key, timestamp)
        try:
            conn = self._connect(target, method, path, headers)
            try:
                conn.endheaders()
                resp = conn.getresponse()
                resp.read()
                return resp.status, resp.getheader("X-Timestamp")
            finally:
                conn.close()
        except NETWORK_ERRORS as err:
            raise RowFailed(f"remote {method}: {err}") from err

    def _remote_has(self, target: SyncTarget, path: str, user_key: str,
                    timestamp: Timestamp, deleted: bool) -> bool:
        """True if the remote already has this version of the row (or a newer one)."""
        status, stamp = self._remote_request(target, "HEAD", path, user_key, timestamp)
        if status == 404:
            return deleted
        if not 200 <= status < 300:
            return False
        try:
            return stamp is not None and Timestamp(stamp) >= timestamp
        except InvalidTimestamp:
            return False

    def _send_object(self, row: Row, target: SyncTarget, path: str, user_key: str,
                     timestamp: Timestamp, account: str, container: str) -> bool:
        """Stream the row's object from a local primary to the remote as a PUT."""
        source = self._local_get(row, account, container)
        if source is None:
            self.stats.gone_locally += 1
            return True  # gone (or replaced): a newer row says so
        resp, conn = source
        try:
            headers = {k: v for k, v in resp.getheaders()
                       if k.lower() not in SKIPPED_HEADERS
                       and not k.lower().startswith("x-backend-")}
            etag = resp.getheader("ETag")
            if etag:
                headers["ETag"] = etag.strip('"')
            length = resp.getheader("Content-Length") or "0"
            headers["Content-Length"] = length
            headers.update(self._signed_headers(target, "PUT", path, user_key, timestamp))
            try:
                out = self._connect(target, "PUT", path, headers)
                try:
                    out.endheaders()
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        out.send(chunk)
                    answer = out.getresponse()
                    answer.read()
                finally:
                    out.close()
            except NETWORK_ERRORS as err:
                raise RowFailed(f"remote PUT: {err}") from err
        finally:
            conn.close()
        if 200 <= answer.status < 300:
            self.stats.puts += 1
            return True
        if answer.status in REFUSED_FOR_GOOD:
            self.stats.refused += 1
            self.logger.error("%s: %s refused by the remote (%s); passed over", self.name,
                              path, answer.status)
            return True
        raise RowFailed(f"remote PUT answered {answer.status}")

    def _local_get(self, row: Row, account: str, container: str):
        """``(response, connection)`` of a local primary holding the row's version (or a
        newer one: then ``None``, the newer row sends it); ``None`` if every primary says
        404. Raises :class:`RowFailed` if no primary could answer."""
        policy = int(row.get("storage_policy_index") or 0)
        ring = self.object_ring(policy)
        part, nodes = ring.get_nodes(account, container, row["name"])
        data_ts = decode_timestamps(row["created_at"])[0]
        missing = 0
        for node in nodes:
            try:
                conn = http_connect(node["ip"], node["port"], "GET", backend_path(
                    node["device"], part, account, container, row["name"]),
                    {POLICY_INDEX_HEADER: str(policy), "User-Agent": self.name},
                    conn_timeout=self.conn_timeout, response_timeout=self.node_timeout)
                conn.endheaders()
                resp = conn.getresponse()
            except NETWORK_ERRORS as err:
                self.logger.warning("%s: local GET of %s: %s", self.name, row["name"], err)
                continue
            if resp.status == 200:
                stored = resp.getheader("X-Backend-Data-Timestamp") or \
                    resp.getheader("X-Timestamp") or "0"
                if Timestamp(stored) >= data_ts:
                    if Timestamp(stored) > data_ts:
                        conn.close()
                        return None
                    return resp, conn
            elif resp.status == 404:
                missing += 1
            conn.close()
        if missing == len(nodes):
            return None
        raise RowFailed("no local primary has this version")
