"""The seed's ``AdminClient``: database and service administration over ``ADMIN``.

A *base* is a container database (``service_type="container"``, the seed's meta2) or an
account database (``service_type="account"``, the seed's meta1 role for a user account),
named by ``account`` and ``reference`` (the container). Its replicas are where the ring
places it: the primaries of its partition (rings read from ``oiofs_dir``; the conscience,
being built beside this, is not needed). A replica is named ``ip:port/device`` (a
*replica id*); a service (server) is named ``ip:port``.

Every method makes ``ADMIN`` requests straight to the storage servers (or, for the
``proxy_*`` methods, to the proxy's ``admin`` filter) and returns JSON documents. A base
method without ``service_id`` acts on every replica and answers ``{replica id: {"status":
int, "body": answer or message}}``; with ``service_id`` (one id or a list) only on those.

Operations with no meaning in oiofs (``set_peers``, ``election_debug``,
``election_leave``, ``service_balance_elections``) are sent anyway and come back as
:class:`AdminError` 501 with the server's reason; ``docs/directory.md`` maps each verb.

>>> admin = AdminClient({}, oiofs_dir="/etc/oiofs")          # doctest: +SKIP
>>> admin.vacuum_base("container", "AUTH_test", "photos")    # doctest: +SKIP
{'127.0.0.1:6011/sdb1': {'status': 200, 'body': {'size_before': ..., ...}}, ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from oiofs.common.backend_protocol import ADMIN_OP_HEADER
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import conf_float, oiofs_dir
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.exceptions import ClientException, ConnectionTimeout, NodeTimeout
from oiofs.common.ring import Ring
from oiofs.common.ring.devices import Device

BASE_TYPES = ("container", "account")


class AdminError(ClientException):
    """An admin request failed: ``http_status`` (None if the node was unreachable) and
    the server's reason as the message."""


def replica_id(node: Device) -> str:
    """``ip:port/device`` of a ring device."""
    return f"{node['ip']}:{node['port']}/{node['device']}"


def parse_replica_id(text: str) -> Device:
    """A replica id (``ip:port/device``) as a node; ``ValueError`` if malformed."""
    netloc, sep, device = text.partition("/")
    host, _, port = netloc.rpartition(":")
    if not (sep and device and host and port.isdigit()) or "/" in device:
        raise ValueError(f"not a replica id (ip:port/device): {text!r}")
    return {"id": -1, "ip": host, "port": int(port), "device": device}


def parse_netloc(text: str) -> tuple[str, int]:
    """``(ip, port)`` of a service id ``ip:port``; ``ValueError`` if malformed."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a service id (ip:port): {text!r}")
    return host, int(port)


def service_id_to_string(service_id: str | Iterable[str] | None) -> str:
    """A list of service ids as one comma separated string (the seed's helper)."""
    if service_id is None:
        return ""
    if isinstance(service_id, str):
        return service_id
    return ",".join(service_id)


class AdminClient:
    """Low level base and service administration (the seed's methods)."""

    def __init__(self, conf: dict[str, Any] | None = None, oiofs_dir_path: str | None = None,
                 proxy_netloc: str | None = None, **kwargs: Any):
        conf = dict(conf or {})
        self.oiofs_dir = oiofs_dir_path or kwargs.get("oiofs_dir") or oiofs_dir(conf)
        self.conn_timeout = conf_float(conf, "conn_timeout", 2.0)
        self.timeout = conf_float(conf, "timeout", 120.0)
        self.proxy_netloc = proxy_netloc or conf.get("proxy_netloc")
        self._rings: dict[str, Ring] = {}
        # the cluster's hash secret: where a name's partition is
        load_cluster_config(self.oiofs_dir)

    # --- where things are ----------------------------------------------------------------

    def ring(self, service_type: str) -> Ring:
        """The ring of ``container`` or ``account`` bases."""
        if service_type not in BASE_TYPES:
            raise ValueError(f"service_type must be one of {', '.join(BASE_TYPES)} "
                             f"(got {service_type!r})")
        if service_type not in self._rings:
            self._rings[service_type] = Ring(self.oiofs_dir, ring_name=service_type)
        return self._rings[service_type]

    def locate(self, service_type: str, account: str, reference: str | None
               ) -> tuple[int, list[Device]]:
        """``(partition, primaries)`` of a base."""
        if service_type == "container" and not reference:
            raise ValueError("a container base needs a reference (container name)")
        ring = self.ring(service_type)
        ring.reload()
        part, nodes = ring.get_nodes(account, reference if service_type == "container"
                                     else None)
        return part, list(nodes)

    def _targets(self, service_type: str, account: str, reference: str | None,
                 service_id: str | Iterable[str] | None, cid: str | None = None
                 ) -> tuple[int, list[Device]]:
        if cid:
            # a seed container id is a hash: the name it came from cannot be found back
            raise ValueError("cid is not supported: name the base by account and "
                             "reference")
        part, nodes = self.locate(service_type, account, reference)
        if service_id:
            ids = [service_id] if isinstance(service_id, str) else list(service_id)
            nodes = [parse_replica_id(i) for i in ids]
        return part, nodes

    # --- requests ------------------------------------------------------------------------

    def request(self, ip: str, port: int, path: str, op: str,
                args: dict[str, Any] | None = None) -> Any:
        """One ``ADMIN`` request; its JSON answer, or :class:`AdminError`."""
        body = json.dumps(args).encode("utf-8") if args else None
        headers = {ADMIN_OP_HEADER: op, "Content-Type": "application/json",
                   "User-Agent": "oiofs-admin"}
        try:
            resp = direct_request(ip, port, "ADMIN", path, headers, body,
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.timeout)
        except (ClientException, ConnectionTimeout, NodeTimeout) as err:
            raise AdminError(f"{ip}:{port}: {err}", http_host=ip, http_port=port) from None
        if not 200 <= resp.status < 300:
            reason = resp.body.decode("utf-8", "replace").strip()[:500]
            raise AdminError(f"{op} on {ip}:{port}{path}: {resp.status} {reason}",
                             http_status=resp.status, http_host=ip, http_port=port,
                             http_body=resp.body)
        return json.loads(resp.body) if resp.body else {}

    def base_request(self, node: Device, partition: int, service_type: str, account: str,
                     reference: str | None, op: str, args: dict[str, Any] | None = None
                     ) -> Any:
        """One base operation on one replica (:class:`AdminError` on failure)."""
        container = reference if service_type == "container" else None
        path = backend_path(node["device"], partition, account, container)
        return self.request(node["ip"], int(node["port"]), path, op, args)

    def _each_replica(self, op: str, service_type: str, account: str,
                      reference: str | None, service_id: str | Iterable[str] | None,
                      args: dict[str, Any] | None = None, cid: str | None = None
                      ) -> dict[str, dict[str, Any]]:
        part, nodes = self._targets(service_type, account, reference, service_id, cid)
        results: dict[str, dict[str, Any]] = {}
        for node in nodes:
            try:
                body = self.base_request(node, part, service_type, account, reference, op,
                                         args)
                results[replica_id(node)] = {"status": 200, "body": body}
            except AdminError as err:
                if err.http_status in (400, 501):
                    raise  # the request itself is wrong: every replica would say so
                results[replica_id(node)] = {"status": err.http_status or 0,
                                             "body": str(err)}
        return results

    # --- bases ---------------------------------------------------------------------------

    def has_base(self, service_type: str = "container", account: str = "",
                 reference: str | None = None, cid: str | None = None,
                 service_id: str | Iterable[str] | None = None, **kwargs: Any
                 ) -> dict[str, dict[str, Any]]:
        """Ask each replica whether it holds the base (200 with its info, 404)."""
        return self._each_replica("info", service_type, account, reference, service_id, cid=cid)

    def remove_base(self, service_type: str = "container", account: str = "",
                    reference: str | None = None, cid: str | None = None,
                    service_id: str | Iterable[str] | None = None,
                    all_replicas: bool = False, **kwargs: Any) -> dict[str, dict[str, Any]]:
        """Remove the replicas of ``service_id``. A primary's replica comes back at the
        next replication pass while another primary has one. Removing every replica
        (the base is gone, and its account still lists it) needs ``all_replicas=True``."""
        if not service_id and not all_replicas:
            raise ValueError("remove_base: name the replicas (service_id), or pass "
                             "all_replicas=True to remove the base everywhere")
        return self._each_replica("remove", service_type, account, reference, service_id, cid=cid)

    def vacuum_base(self, service_type: str = "container", account: str = "",
                    reference: str | None = None, cid: str | None = None,
                    service_id: str | Iterable[str] | None = None, **kwargs: Any
                    ) -> dict[str, dict[str, Any]]:
        """Vacuum every replica (each its own: there is no master); sizes before/after."""
        return self._each_replica("vacuum", service_type, account, reference, service_id, cid=cid)

    def get_properties(self, service_type: str = "container", account: str = "",
                       reference: str | None = None, cid: str | None = None,
                       service_id: str | Iterable[str] | None = None, **kwargs: Any
                       ) -> dict[str, Any]:
        """System info and metadata of the first replica that answers."""
        part, nodes = self._targets(service_type, account, reference, service_id, cid)
        last: AdminError | None = None
        for node in nodes:
            try:
                result: dict[str, Any] = self.base_request(
                    node, part, service_type, account, reference, "get_properties")
                result["replica"] = replica_id(node)
                return result
            except AdminError as err:
                last = err
        raise last or AdminError("no replica to ask")

    def set_properties(self, service_type: str = "container", account: str = "",
                       reference: str | None = None, cid: str | None = None,
                       service_id: str | Iterable[str] | None = None,
                       properties: dict[str, str] | None = None, **kwargs: Any
                       ) -> dict[str, dict[str, Any]]:
        """Set user/system metadata (``X-Container-Meta-*``, ``-Sysmeta-*``) on every
        replica (one timestamp per replica; the newest wins when they replicate)."""
        return self._each_replica("set_properties", service_type, account, reference,
                                  service_id, {"properties": dict(properties or {})}, cid=cid)

    def copy_base_to(self, service_type: str = "container", account: str = "",
                     reference: str | None = None, cid: str | None = None,
                     service_id: str | None = None, svc_to: str = "", **kwargs: Any
                     ) -> dict[str, Any]:
        """Copy the base to ``svc_to`` (``ip:port/device``) from ``service_id`` or, by
        default, the most up to date replica; verified before it is used."""
        svc_from = service_id or self.election_status(
            service_type, account, reference, cid)["most_up_to_date"]
        if not svc_from:
            raise AdminError("no replica of this base answers: nothing to copy",
                             http_status=404)
        return self.copy_base_from(service_type, account, reference, cid, svc_from=svc_from,
                                   svc_to=svc_to)

    def copy_base_from(self, service_type: str = "container", account: str = "",
                       reference: str | None = None, cid: str | None = None,
                       service_id: str | None = None, svc_from: str = "", svc_to: str = "",
                       **kwargs: Any) -> dict[str, Any]:
        """Copy the base of ``svc_from`` to ``svc_to`` (both ``ip:port/device``)."""
        if not svc_from:
            raise ValueError("copy_base_from needs svc_from")
        source = parse_replica_id(svc_from)
        target = parse_replica_id(svc_to or service_id or "")
        part, _nodes = self._targets(service_type, account, reference, None, cid)
        result: dict[str, Any] = self.base_request(
            source, part, service_type, account, reference, "copy_to",
            {"node": {k: target[k] for k in ("ip", "port", "device")}})
        return result

    def set_peers(self, service_type: str = "container", account: str = "",
                  reference: str | None = None, cid: str | None = None,
                  service_id: str | Iterable[str] | None = None, **kwargs: Any) -> Any:
        """501 from the server: the ring names a base's peers."""
        return self._each_replica("set_peers", service_type, account, reference,
                                  service_id, cid=cid)

    # --- "elections": the replicas of a base ---------------------------------------------

    def election_status(self, service_type: str = "container", account: str = "",
                        reference: str | None = None, cid: str | None = None,
                        service_id: str | Iterable[str] | None = None, **kwargs: Any
                        ) -> dict[str, Any]:
        """Every replica's state and which is the most up to date.

        ``{"peers": {id: {"status", "body"}}, "most_up_to_date": id, "in_sync": bool,
        "type": service_type}``: the most up to date replica has the most rows and, among
        equals, the newest put/delete timestamps; ``in_sync`` when every primary answered
        with the same hash (the same rows).
        """
        peers = self.has_base(service_type, account, reference, cid, service_id)
        alive = {rid: r["body"] for rid, r in peers.items() if r["status"] == 200}
        best = max(alive, key=lambda rid: (
            alive[rid]["count"], alive[rid]["max_row"], alive[rid]["put_timestamp"],
            alive[rid]["delete_timestamp"]), default=None)
        hashes = {info["hash"] for info in alive.values()}
        return {"peers": peers, "most_up_to_date": best, "type": service_type,
                "in_sync": len(alive) == len(peers) and len(hashes) == 1}

    def election_ping(self, service_type: str = "container", account: str = "",
                      reference: str | None = None, cid: str | None = None,
                      service_id: str | Iterable[str] | None = None, **kwargs: Any
                      ) -> dict[str, int]:
        """Every replica answers: ``{id: status}`` (0: unreachable)."""
        peers = self.has_base(service_type, account, reference, cid, service_id)
        return {rid: r["status"] for rid, r in peers.items()}

    def election_sync(self, service_type: str = "container", account: str = "",
                      reference: str | None = None, cid: str | None = None,
                      service_id: str | Iterable[str] | None = None, **kwargs: Any
                      ) -> dict[str, dict[str, Any]]:
        """Each replica replicates with its peers now (the replicator's pass for it)."""
        return self._each_replica("sync", service_type, account, reference, service_id, cid=cid)

    def election_debug(self, service_type: str = "container", account: str = "",
                       reference: str | None = None, cid: str | None = None,
                       service_id: str | Iterable[str] | None = None, **kwargs: Any) -> Any:
        """501 from the server: no elections in oiofs."""
        return self._each_replica("election_debug", service_type, account, reference,
                                  service_id, cid=cid)

    def election_leave(self, service_type: str = "container", account: str = "",
                       reference: str | None = None, cid: str | None = None,
                       service_id: str | Iterable[str] | None = None, **kwargs: Any) -> Any:
        """501 from the server: no elections in oiofs."""
        return self._each_replica("election_leave", service_type, account, reference,
                                  service_id, cid=cid)

    # --- services ------------------------------------------------------------------------

    def _service(self, svc_id: str, op: str, args: dict[str, Any] | None = None) -> Any:
        ip, port = parse_netloc(svc_id)
        return self.request(ip, port, "/", op, args)

    def service_get_info(self, svc_id: str, **kwargs: Any) -> dict[str, Any]:
        """What the server is: type, pid, workers, start time, live settings."""
        result: dict[str, Any] = self._service(svc_id, "info")
        return result

    def service_get_live_config(self, svc_id: str, **kwargs: Any) -> dict[str, Any]:
        """The server's live settings and their current values."""
        result: dict[str, Any] = self._service(svc_id, "get_config")
        return result

    def service_set_live_config(self, svc_id: str, config: dict[str, Any], **kwargs: Any
                                ) -> dict[str, Any]:
        """Change live settings in every worker of the server (lost at its restart)."""
        result: dict[str, Any] = self._service(svc_id, "set_config", {"config": config})
        return result

    def service_flush_cache(self, svc_id: str, **kwargs: Any) -> dict[str, Any]:
        """Drop the server's cached brokers (every worker)."""
        result: dict[str, Any] = self._service(svc_id, "flush_cache")
        return result

    def service_reload_lb(self, svc_id: str, **kwargs: Any) -> dict[str, Any]:
        """Have the server reread its rings now."""
        result: dict[str, Any] = self._service(svc_id, "reload_lb")
        return result

    def service_balance_elections(self, svc_id: str, max_ops: int = 0, inactivity: int = 0,
                                  **kwargs: Any) -> Any:
        """501 from the server: no elections in oiofs."""
        return self._service(svc_id, "balance_elections")

    # --- the proxy -------------------------------------------------------------------------

    def _proxy(self, proxy_netloc: str | None, op: str, args: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        netloc = proxy_netloc or self.proxy_netloc
        if not netloc:
            raise ValueError("no proxy given (proxy_netloc)")
        ip, port = parse_netloc(netloc)
        result: dict[str, Any] = self.request(ip, port, "/", op, args)
        return result

    def proxy_flush_cache(self, high: bool = True, low: bool = True,
                          proxy_netloc: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Flush the proxy's info caches in every worker: ``high`` the account infos,
        ``low`` the container infos."""
        return self._proxy(proxy_netloc, "flush_cache", {"high": high, "low": low})

    def proxy_get_cache_status(self, proxy_netloc: str | None = None, **kwargs: Any
                               ) -> dict[str, Any]:
        """Entries and TTL of the proxy's account and container info caches (of the
        worker that answered: each worker has its own)."""
        return self._proxy(proxy_netloc, "cache_status")

    def proxy_get_live_config(self, proxy_netloc: str | None = None, **kwargs: Any
                              ) -> dict[str, Any]:
        """The proxy's live settings."""
        return self._proxy(proxy_netloc, "get_config")

    def proxy_set_live_config(self, proxy_netloc: str | None = None,
                              config: dict[str, Any] | None = None, **kwargs: Any
                              ) -> dict[str, Any]:
        """Change the proxy's live settings in every worker."""
        return self._proxy(proxy_netloc, "set_config", {"config": dict(config or {})})
