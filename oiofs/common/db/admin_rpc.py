"""The base half of the ``ADMIN`` verb: operations on one replica of one database.

``ADMIN /<device>/<partition>/<account>[/<container>]`` with ``X-Backend-Admin-Op``
(:mod:`oiofs.common.admin_service` reads the request). A *base* is a container (or
account) database; this server holds one replica of it, on ``<device>``. Operations
(``docs/directory.md``, "Admin", maps each to the seed's ``AdminClient``):

* ``info``: the replica's replication info (id, hash, counts, last row, timestamps,
  status), its file and size; 404 when this device has no replica.
* ``remove``: remove this replica, only if nothing is queued for it and no row arrived
  since it was read (:func:`oiofs.common.db.removal.remove_db`); ``{"removed": bool}``.
* ``vacuum``: sqlite ``VACUUM`` (run in a thread, on its own connection);
  ``{"size_before", "size_after"}``. ROWIDs are kept (``INTEGER PRIMARY KEY``), so sync
  points stay valid.
* ``get_properties``: ``{"system": <stat row>, "properties": <metadata>}``;
  ``set_properties`` with ``{"properties": {name: value}}``: user and system metadata
  (``X-Container-Meta-*``, ``X-Container-Sysmeta-*``...; an empty value deletes), stamped
  now and merged as any metadata update; other names are a 400.
* ``copy_to`` with ``{"node": {"ip", "port", "device"}}``: a snapshot of this replica is
  sent to the node's device over ``REPLICATE`` (the receiver checks it with
  ``quick_check``, its schema and its name hash before linking it in place, or merges it
  into its own replica); then verified with a ``sync``: the peer must hold every row of
  the snapshot (its sync point for us reaches our last row), else 502. The answer says
  whether the two are identical (same hash and counts).
* ``sync``: replicate this replica with the ring's primaries now (the replicator's own
  code path, ``DbReplicator.replicate_db``); a replica on a device that is not one of its
  primaries is pushed to them and removed here once they all hold it, as a handoff.

Elections and peer lists have no meaning here (every replica is writable; the ring names
the peers): those operations are 501 with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from typing import Any, Protocol

from werkzeug.wrappers import Request

from oiofs.common.config import conf_float
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.constraints import check_metadata
from oiofs.common.db.broker import DatabaseBroker
from oiofs.common.db.removal import remove_db
from oiofs.common.db.replication_client import ReplicationPeer, make_snapshot
from oiofs.common.db.replication_walk import local_db_devices, tmp_dir
from oiofs.common.db.replicator import DbReplicator
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    HTTPBadGateway,
    HTTPBadRequest,
    HTTPNotFound,
    HTTPNotImplemented,
    NodeTimeout,
)
from oiofs.common.hashing import hash_path
from oiofs.common.real_threads import run_in_thread
from oiofs.common.ring import Ring
from oiofs.common.ring.devices import Device
from oiofs.common.timestamp import Timestamp

#: seed operations with no meaning in oiofs, and why (501)
NOT_IN_OIOFS = {
    "set_peers": "a base's peers are its partition's primaries in the ring: change the "
                 "ring (oiofs-ring-builder) or move the base (oiofs-admin base move)",
    "election_debug": "no elections: every replica is writable and replicas converge by "
                      "replication; election_status shows every replica's state",
    "election_leave": "no elections: there is no master to leave",
    "balance_elections": "no elections: there are no masters to balance",
}


class AdminHost(Protocol):
    """What :class:`DbAdminRpc` uses of its server (a ``DbServerApp``)."""

    @property
    def conf(self) -> dict[str, Any]: ...
    @property
    def devices(self) -> str: ...
    @property
    def logger(self) -> logging.Logger: ...
    @property
    def broker_class(self) -> type[DatabaseBroker]: ...
    @property
    def replicator_class(self) -> type[DbReplicator[Any]]: ...

    def split_db_path(self, req: Request, minsegs: int, maxsegs: int,
                      rest_with_last: bool = False) -> list[Any]: ...

    def get_broker(self, device: str, partition: str, account: str,
                   container: str | None = None, **kwargs: Any) -> Any: ...


def _check_node(node: object) -> Device:
    if not isinstance(node, dict):
        raise HTTPBadRequest("copy_to needs {\"node\": {\"ip\", \"port\", \"device\"}}")
    ip, port, device = node.get("ip"), node.get("port"), node.get("device")
    if not (isinstance(ip, str) and ip and isinstance(port, int) and 0 < port < 65536
            and isinstance(device, str) and device and "/" not in device):
        raise HTTPBadRequest("copy_to: node needs ip, port and device")
    return {"id": -1, "ip": ip, "port": port, "device": device}


class DbAdminRpc:
    """The base operations of a db server's ``ADMIN`` verb (module docstring)."""

    def __init__(self, app: AdminHost):
        self.app = app
        self.logger = app.logger
        self.conn_timeout = conf_float(app.conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(app.conf, "node_timeout", 10.0)
        self._pool: ConnectionPool | None = None
        self._ring: Ring | None = None

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = ConnectionPool(self.conn_timeout, self.node_timeout, max_idle=4)
        return self._pool

    def replicator(self) -> DbReplicator[Any]:
        """A replicator of this server's databases for one ``sync`` (its own counters
        and connections; the ring, read on first use, is shared by all)."""
        rep = self.app.replicator_class(self.app.conf, self.logger, ring=self._ring)
        self._ring = rep.ring
        return rep

    def reload_ring(self) -> bool:
        """Reread the ring now if it was loaded (True if a new one was)."""
        return self._ring is not None and self._ring.reload()

    def handle(self, req: Request, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """The answer to one base operation (raises HTTP errors)."""
        if op in NOT_IN_OIOFS:
            raise HTTPNotImplemented(f"{op}: {NOT_IN_OIOFS[op]}")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise HTTPNotImplemented(f"no base operation {op!r}")
        segs = 4 if self.app.broker_class.db_type == "container" else 3
        device, partition, account, *rest = self.app.split_db_path(req, segs, segs)
        container = rest[0] if rest else None
        broker = self.app.get_broker(device, partition, account, container)
        if not broker.exists():
            raise HTTPNotFound("No such base on this device")
        where = {"device": device, "partition": int(partition)}
        result: dict[str, Any] = handler(broker, where, args)
        return result

    # --- operations -----------------------------------------------------------------------

    def op_info(self, broker: DatabaseBroker, where: dict[str, Any], args: dict[str, Any]
                ) -> dict[str, Any]:
        info = broker.get_replication_info()
        info.update(where, db_file=broker.db_file, size=os.path.getsize(broker.db_file))
        return info

    def op_remove(self, broker: DatabaseBroker, where: dict[str, Any],
                  args: dict[str, Any]) -> dict[str, Any]:
        max_row = broker.get_replication_info()["max_row"]
        removed = remove_db(broker, max_row, self.logger)
        if removed:
            self.logger.info("admin: removed the replica %s", broker.db_file)
        return dict(where, removed=removed)

    def op_vacuum(self, broker: DatabaseBroker, where: dict[str, Any],
                  args: dict[str, Any]) -> dict[str, Any]:
        broker.commit_pending()
        before = os.path.getsize(broker.db_file)
        run_in_thread(_vacuum, broker.db_file, broker.timeout)
        after = os.path.getsize(broker.db_file)
        self.logger.info("admin: vacuumed %s: %d -> %d bytes", broker.db_file, before, after)
        return dict(where, size_before=before, size_after=after)

    def op_get_properties(self, broker: DatabaseBroker, where: dict[str, Any],
                          args: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, (v, _ts) in broker.metadata.items() if v != ""}
        return dict(where, system=broker.get_info(), properties=props)

    def op_set_properties(self, broker: DatabaseBroker, where: dict[str, Any],
                          args: dict[str, Any]) -> dict[str, Any]:
        props = args.get("properties")
        if not isinstance(props, dict) or not props:
            raise HTTPBadRequest("set_properties needs {\"properties\": {name: value}}")
        kind = broker.db_type
        stamp = Timestamp.now().internal
        updates = {}
        for name, value in props.items():
            if not isinstance(value, str) or not name.lower().startswith(
                    (f"x-{kind}-meta-", f"x-{kind}-sysmeta-")):
                raise HTTPBadRequest(f"only X-{kind.title()}-Meta-* and "
                                     f"X-{kind.title()}-Sysmeta-* text properties can be set")
            updates[name] = [value, stamp]
        # the limits of a client's POST: each item, then the merged whole
        check_metadata([(_as_wsgi(k), _as_wsgi(v)) for k, (v, _ts) in updates.items()],
                       kind)
        broker.update_metadata(updates, getattr(self.app, "validate_metadata", None))
        return self.op_get_properties(broker, where, args)

    def op_copy_to(self, broker: DatabaseBroker, where: dict[str, Any],
                   args: dict[str, Any]) -> dict[str, Any]:
        node = _check_node(args.get("node"))
        snapshot = make_snapshot(broker, tmp_dir(self.app.devices, where["device"]))
        try:
            copy = self.app.broker_class(snapshot, timeout=broker.timeout, logger=self.logger)
            try:
                info = copy.get_replication_info()
            finally:
                copy.close()
            name_hash = hash_path(info["account"], info["container"])
            peer = ReplicationPeer(self.pool, node, where["partition"], name_hash)
            try:
                status = peer.send_copy(snapshot, info["id"],
                                        max(self.node_timeout, info["count"] / 1000.0))
                remote = peer.sync(info)
            except (ClientException, ConnectionTimeout, NodeTimeout) as err:
                raise HTTPBadGateway(f"copy to {peer} failed: {err}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(snapshot)
        if remote is None or remote["point"] < info["max_row"]:
            raise HTTPBadGateway(f"copy to {peer} not verified: it does not hold every row")
        identical = remote["hash"] == info["hash"] and remote["count"] == info["count"]
        self.logger.info("admin: copied %s to %s (%s)", broker.db_file, peer,
                         "new replica" if status == 201 else "merged")
        return dict(where, target=node, placed=status == 201, verified=True,
                    identical=identical, rows=info["max_row"], count=info["count"],
                    hash=info["hash"], target_hash=remote["hash"],
                    target_count=remote["count"])

    def op_sync(self, broker: DatabaseBroker, where: dict[str, Any],
                args: dict[str, Any]) -> dict[str, Any]:
        rep = self.replicator()
        rep.ring.reload()
        dev: Device = next((d for d in local_db_devices(rep.ring, self.app.conf)
                            if d["device"] == where["device"]),
                           {"id": -1, "device": where["device"]})
        try:
            rep.replicate_db(dev, where["partition"], broker.db_file)
        finally:
            rep.pool.close_all()
        return dict(where, primary=dev["id"] != -1, **rep.stats.counters())


def _as_wsgi(text: str) -> str:
    # the limits count bytes, as on a request's headers
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _vacuum(db_file: str, timeout: float) -> None:
    # its own connection: sqlite connections stay in the thread that made them
    conn = sqlite3.connect(db_file, timeout=timeout, isolation_level=None)
    try:
        conn.execute("VACUUM")
    finally:
        conn.close()
