"""The container server: containers' databases over HTTP (``docs/backend-protocol.md``).

Verbs on ``/<device>/<partition>/<account>/<container>[/<object>]``:

* ``PUT`` container: create (201) or update (202) it, store its metadata, then tell the
  account servers named in ``X-Account-Host/-Device/-Partition``; ``PUT`` object: queue an
  object row (one fsynced append to the pending file), 201.
* ``DELETE`` container (204; 409 if it still holds objects) or object row (204).
* ``UPDATE`` container: several object rows at once, from an object server whose
  updates piled up (:mod:`oiofs.common.update_batch`): one fsynced append, 202.
* ``HEAD``/``GET`` container: stats and metadata headers; ``GET`` adds the listing.
* ``POST`` container: merge metadata and move the put timestamp (``Last-Modified``), 204.
* ``ADMIN``: an operator's request (:class:`~oiofs.common.db.server.DbServerApp`,
  ``docs/directory.md``).
* ``REPLICATE /<device>/<partition>/<hash>``: a replicator's request
  (:mod:`oiofs.common.db.replication_rpc`, ``docs/db-replication.md``).

Options (``etc/container-server.conf.sample``) are read once, in ``__init__``, here and in
:class:`~oiofs.common.db.server.DbServerApp`: ``allow_versions`` (false) additionally
stores ``X-Versions-Location``/``X-History-Location``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from oiofs.common import constraints, runtime
from oiofs.common.backend_protocol import (
    DELETE_TIMESTAMP_HEADER,
    POLICY_DEFAULT_HEADER,
    POLICY_INDEX_HEADER,
    PUT_TIMESTAMP_HEADER,
    ROWS_HASH_HEADER,
    STATUS_CHANGED_AT_HEADER,
    TIMESTAMP_HEADER,
    parse_update_targets,
)
from oiofs.common.config import conf_bool
from oiofs.common.db.listing_format import (
    RAW_ROW_KEYS,
    QueryParams,
    get_listing_content_type,
    iter_listing_body,
    max_listing_limit,
    object_row_to_record,
    parse_listing_params,
)
from oiofs.common.db.server import (
    DbServerApp,
    header_to_str,
    metadata_limits_validator,
    raw_rows_response,
    wants_raw_rows,
)
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    DbAlreadyExists,
    HTTPBadRequest,
    HTTPConflict,
    HTTPLengthRequired,
    HTTPNotFound,
    HTTPRequestEntityTooLarge,
    NodeTimeout,
)
from oiofs.common.http.body import RequestBody
from oiofs.common.http.response import WsgiResponse
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.common.update_batch import MAX_BATCH_BYTES, UPDATE_METHOD, decode_batch
from oiofs.container.backend import (
    DELETED_CONTENT_TYPE,
    DELETED_ETAG,
    ContainerBroker,
    object_record,
)
from oiofs.container.replicator import ContainerReplicator


def gen_resp_headers(info: dict, is_deleted: bool = False) -> dict:
    """Response headers for a container's info; stats only when it is not deleted."""
    headers = {
        TIMESTAMP_HEADER: Timestamp(info.get("created_at") or 0).internal,
        PUT_TIMESTAMP_HEADER: Timestamp(info.get("put_timestamp") or 0).internal,
        DELETE_TIMESTAMP_HEADER: Timestamp(info.get("delete_timestamp") or 0).internal,
        STATUS_CHANGED_AT_HEADER: Timestamp(
            info.get("status_changed_at") or 0).internal,
        POLICY_INDEX_HEADER: str(info.get("storage_policy_index", 0)),
    }
    if not is_deleted:
        headers.update({
            "X-Container-Object-Count": str(info.get("object_count", 0)),
            "X-Container-Bytes-Used": str(info.get("bytes_used", 0)),
            "X-Timestamp": Timestamp(info.get("created_at") or 0).normal,
            "X-PUT-Timestamp": Timestamp(info.get("put_timestamp") or 0).normal,
            ROWS_HASH_HEADER: str(info.get("hash") or ""),
        })
    return headers


class ContainerServer(DbServerApp[ContainerBroker]):
    """WSGI server of the container databases on this node's devices."""

    server_type = "container-server"
    allowed_methods = frozenset({"PUT", "DELETE", "HEAD", "GET", "POST", "REPLICATE",
                                 "ADMIN", UPDATE_METHOD})
    datadir = "containers"
    broker_class = ContainerBroker
    replicator_class = ContainerReplicator

    def __init__(self, conf: dict, logger=None):
        super().__init__(conf, logger)
        self.allow_versions = conf_bool(conf, "allow_versions", False)
        save = ["x-container-read", "x-container-write", "x-container-sync-key",
                "x-container-sync-to"]
        if self.allow_versions:
            save += ["x-versions-location", "x-history-location"]
        self.save_headers = tuple(save)
        self.validate_metadata = metadata_limits_validator("container")

    # --- helpers ------------------------------------------------------------------------

    @classmethod
    def requested_policy_index(cls, req: Request) -> int | None:
        """The ``X-Backend-Storage-Policy-Index`` of the request; 400 if unknown."""
        return cls._policy_index(req.headers.get(POLICY_INDEX_HEADER))

    @staticmethod
    def _policy_index(value: str | None) -> int | None:
        """A policy index header's value as a number (``None`` if absent); 400 if unknown."""
        if value is None:
            return None
        value = value.strip()
        if not (value.isdigit() and value.isascii()) or POLICIES.get_by_index(value) is None:
            raise HTTPBadRequest(f"Invalid {POLICY_INDEX_HEADER}")
        return int(value)

    def _maybe_autocreate(self, broker: ContainerBroker, timestamp: Timestamp, account: str,
                          policy_index: int) -> None:
        # internal accounts (".expiring_objects"...) get their containers on first use
        if account.startswith(self.auto_create_account_prefix) and not broker.exists():
            try:
                broker.initialize(timestamp.internal, storage_policy_index=policy_index)
            except DbAlreadyExists:
                pass

    def _update_or_create(self, req: Request, broker: ContainerBroker, timestamp: Timestamp,
                          requested: int | None) -> bool:
        """Create the container or raise its put timestamp; True if it is new (again)."""
        if requested is not None:
            new_policy = requested
        else:
            default = req.headers.get(POLICY_DEFAULT_HEADER, "")
            new_policy = int(default) if default.isdigit() and default.isascii() and \
                POLICIES.get_by_index(default) is not None else POLICIES.default.idx
        if not broker.exists():
            try:
                broker.initialize(timestamp.internal, storage_policy_index=new_policy)
                return True
            except DbAlreadyExists:
                pass
        recreated = broker.is_deleted()
        if recreated:
            # only a deleted container may change its policy
            broker.set_storage_policy_index(new_policy, timestamp=timestamp)
        elif requested is not None:
            current = broker.storage_policy_index
            if requested != current:
                raise HTTPConflict("Container exists with another storage policy",
                                   headers={POLICY_INDEX_HEADER: str(current)})
        broker.update_put_timestamp(timestamp)
        if broker.is_deleted():
            raise HTTPConflict("A newer delete exists")
        if recreated:
            broker.update_status_changed_at(timestamp)
        return recreated

    def _store_metadata(self, req: Request, broker: ContainerBroker,
                        timestamp: Timestamp) -> None:
        metadata = self.metadata_from_headers(req, "container", timestamp, self.save_headers)
        if not metadata:
            return
        sync_to = next((v for k, v in metadata.items() if k.lower() == "x-container-sync-to"),
                       None)
        if sync_to is not None:
            old = next((v for k, v in broker.metadata.items()
                        if k.lower() == "x-container-sync-to"), None)
            if old is None or old[0] != sync_to[0]:
                # syncing to somewhere else starts from the first row again
                broker.set_x_container_sync_points(-1, -1)
        broker.update_metadata(metadata, self.validate_metadata)

    def account_update(self, req: Request, account: str, container: str,
                       broker: ContainerBroker) -> None:
        """Send the container's new state to the account servers named in the request.

        Raises ``HTTPNotFound`` if every account server answered 404 (no such account),
        ``HTTPBadRequest`` if the account headers do not pair up
        (:func:`~oiofs.common.backend_protocol.parse_update_targets`). Other failures are
        logged: the container updater reports again later.
        """
        try:
            targets = parse_update_targets(req.headers.get("X-Account-Host"),
                                           req.headers.get("X-Account-Device"),
                                           req.headers.get("X-Account-Partition"))
        except ValueError as err:
            self.logger.error("account update headers: %s", err)
            raise HTTPBadRequest(f"Invalid account update headers: {err}") from None
        if not targets:
            return
        info = broker.get_info()
        headers = {
            "X-Put-Timestamp": info["put_timestamp"],
            "X-Delete-Timestamp": info["delete_timestamp"],
            "X-Object-Count": str(info["object_count"]),
            "X-Bytes-Used": str(info["bytes_used"]),
            "X-Timestamp": self.request_timestamp(req).internal,
            "X-Trans-Id": req.headers.get("X-Trans-Id", "-"),
            POLICY_INDEX_HEADER: str(info["storage_policy_index"]),
            "User-Agent": "container-server",
        }
        if req.headers.get("X-Account-Override-Deleted", "no").lower() == "yes":
            headers["X-Account-Override-Deleted"] = "yes"
        pile = runtime.GreenPile(len(targets))
        for target in targets:
            pile.spawn(self._send_account_update, target.ip, target.port,
                       backend_path(target.device, target.partition, account, container),
                       headers)
        statuses = list(pile)
        if targets and all(status == 404 for status in statuses):
            raise HTTPNotFound("Account not found")

    def _send_account_update(self, ip: str, port: int, path: str, headers: dict) -> int | None:
        try:
            resp = direct_request(ip, port, "PUT", path, headers=headers,
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.node_timeout)
        except (ConnectionTimeout, NodeTimeout, ClientException) as err:
            self.logger.error("account update to %s:%s%s failed (updater retries): %s",
                              ip, port, path, err)
            return None
        if resp.status != 404 and not 200 <= resp.status < 300:
            self.logger.error("account update to %s:%s%s answered %s (updater retries)",
                              ip, port, path, resp.status)
        return resp.status

    def _listing_headers(self, broker: ContainerBroker, info: dict,
                         content_type: str) -> dict:
        headers = gen_resp_headers(info)
        headers.update(self.metadata_headers(broker.metadata, "container", self.save_headers))
        headers["Content-Type"] = content_type + "; charset=utf-8"
        headers["Last-Modified"] = Timestamp(info["put_timestamp"]).http_date
        return headers

    # --- verbs --------------------------------------------------------------------------

    def PUT(self, req: Request) -> Response | WsgiResponse:
        """Create/update a container, or record an object row."""
        device, part, account, container, obj = self.split_db_path(req, 4, 5, True)
        timestamp = self.request_timestamp(req)
        requested = self.requested_policy_index(req)
        if obj:
            return self._put_object(req, device, part, account, container, obj, timestamp,
                                    requested or 0)
        constraints.check_metadata(req.headers, "container")
        broker = self.get_broker(device, part, account, container)
        created = self._update_or_create(req, broker, timestamp, requested)
        self._store_metadata(req, broker, timestamp)
        self.account_update(req, account, container, broker)
        return Response(status=201 if created else 202,
                        headers={POLICY_INDEX_HEADER: str(broker.storage_policy_index)})

    @staticmethod
    def _object_row(get: Callable[[str], str | None], op: str, obj: str,
                    timestamp: Timestamp, policy_index: int) -> dict:
        """The row an object ``PUT`` or ``DELETE`` records, from its headers (``get``
        looks one up by its lower-case name); 400 if one is missing or invalid."""
        if op == "DELETE":
            return object_record(obj, timestamp, 0, DELETED_CONTENT_TYPE, DELETED_ETAG, 1,
                                 policy_index)
        size = get("x-size") or ""
        if not size.isdigit() or not size.isascii():
            raise HTTPBadRequest("Missing or invalid X-Size")
        content_type = get("x-content-type")
        etag = get("x-etag")
        if content_type is None or etag is None:
            raise HTTPBadRequest("Missing X-Content-Type or X-Etag")
        extra = [constraints.valid_timestamp(v) if v else None
                 for v in (get("x-content-type-timestamp"), get("x-meta-timestamp"))]
        return object_record(obj, timestamp, int(size), header_to_str(content_type),
                             header_to_str(etag), 0, policy_index, extra[0], extra[1])

    def _put_object(self, req: Request, device: str, part: str, account: str, container: str,
                    obj: str, timestamp: Timestamp, policy_index: int) -> WsgiResponse:
        record = self._object_row(req.headers.get, "PUT", obj, timestamp, policy_index)
        broker = self.get_broker(device, part, account, container)
        self._maybe_autocreate(broker, timestamp, account, policy_index)
        if broker.is_deleted():
            raise HTTPNotFound("Container not found")
        broker.put_records([record])
        return WsgiResponse(201)  # the hot path: no werkzeug Response

    def UPDATE(self, req: Request) -> WsgiResponse:
        """Record several object rows of one container at once (:mod:`oiofs.common.
        update_batch`): one fsynced append for all, then 202. 404 if the container does
        not exist, or is deleted and a row is a PUT (as each single request would be)."""
        device, part, account, container = self.split_db_path(req, 4, 4)
        length = req.content_length
        if length is None:
            raise HTTPLengthRequired()
        if length > MAX_BATCH_BYTES:
            raise HTTPRequestEntityTooLarge()
        try:
            rows = decode_batch(RequestBody.of(req.environ, length).read_exact(length))
        except ValueError as err:
            raise HTTPBadRequest(f"Invalid UPDATE body: {err}") from None
        records = []
        first: tuple[Timestamp, int] | None = None
        for row in rows:
            if "\x00" in row.obj:
                raise HTTPBadRequest("Invalid object name in a row")
            constraints.check_name_lengths(None, None, row.obj)
            headers = {name.lower(): value for name, value in row.headers.items()}
            timestamp = constraints.valid_timestamp(headers.get("x-timestamp"))
            policy_index = self._policy_index(headers.get(POLICY_INDEX_HEADER.lower())) or 0
            first = first or (timestamp, policy_index)
            records.append(self._object_row(headers.get, row.op, row.obj, timestamp,
                                            policy_index))
        broker = self.get_broker(device, part, account, container)
        if first is not None:
            self._maybe_autocreate(broker, first[0], account, first[1])
        if not broker.exists() or (broker.is_deleted() and any(
                row.op == "PUT" for row in rows)):
            raise HTTPNotFound("Container not found")
        broker.put_records(records)
        return WsgiResponse(202)

    def DELETE(self, req: Request) -> Response | WsgiResponse:
        """Delete a container (empty only) or record an object's deletion."""
        device, part, account, container, obj = self.split_db_path(req, 4, 5, True)
        timestamp = self.request_timestamp(req)
        policy_index = self.requested_policy_index(req) or 0
        broker = self.get_broker(device, part, account, container)
        if obj:
            self._maybe_autocreate(broker, timestamp, account, policy_index)
            if not broker.exists():
                raise HTTPNotFound("Container not found")
            broker.put_records([self._object_row(req.headers.get, "DELETE", obj, timestamp,
                                                 policy_index)])
            return WsgiResponse(204)
        if not broker.exists():
            raise HTTPNotFound("Container not found")
        if not broker.empty():
            raise HTTPConflict("Container not empty")
        info, deleted = broker.get_info_is_deleted()
        existed = bool(Timestamp(info["put_timestamp"])) and not deleted
        broker.delete_db(timestamp)
        if not broker.is_deleted():
            raise HTTPConflict("A newer PUT exists")
        self.account_update(req, account, container, broker)
        return Response(status=204 if existed else 404)

    def _read_broker(self, req: Request, obj_allowed: bool = False):
        device, part, account, container, obj = self.split_db_path(req, 4, 5, True)
        if obj and not obj_allowed:
            raise HTTPBadRequest("Invalid path")
        broker = self.get_broker(device, part, account, container, pending_timeout=0.1,
                                 stale_reads_ok=True)
        return container, broker

    def HEAD(self, req: Request) -> Response:
        """The container's stats and metadata (204), or 404."""
        params = QueryParams(req.environ.get("QUERY_STRING", ""))
        content_type = get_listing_content_type(params, req.headers.get("Accept"))
        _container, broker = self._read_broker(req)
        info, deleted = broker.get_info_is_deleted()
        if deleted:
            raise HTTPNotFound(headers=gen_resp_headers(info, True))
        return Response(status=204, headers=self._listing_headers(broker, info, content_type))

    def GET(self, req: Request) -> Response:
        """The container's listing with its stats and metadata headers."""
        params = QueryParams(req.environ.get("QUERY_STRING", ""))
        listing = parse_listing_params(params, max_listing_limit("container"))
        content_type = get_listing_content_type(params, req.headers.get("Accept"))
        container, broker = self._read_broker(req)
        info, deleted = broker.get_info_is_deleted()
        if deleted:
            raise HTTPNotFound(headers=gen_resp_headers(info, True))
        if wants_raw_rows(req):
            return raw_rows_response(
                req, listing, functools.partial(broker.list_rows_with_deleted,
                                                storage_policy_index=info[
                                                    "storage_policy_index"]),
                RAW_ROW_KEYS, self._listing_headers(broker, info, "application/json"))
        rows = broker.list_objects_iter(
            listing.limit, listing.marker, listing.end_marker, listing.prefix,
            listing.delimiter, listing.path, storage_policy_index=info["storage_policy_index"],
            reverse=listing.reverse)
        headers = self._listing_headers(broker, info, content_type)
        if not rows and content_type == "text/plain":
            return Response(status=204, headers=headers)
        body = iter_listing_body(map(object_row_to_record, rows), content_type, "container",
                                 container)
        return Response(body, status=200, headers=headers)

    def POST(self, req: Request) -> Response:
        """Merge the container's metadata and move its put timestamp (204), or 404."""
        device, part, account, container = self.split_db_path(req, 4, 4)
        timestamp = self.request_timestamp(req)
        constraints.check_metadata(req.headers, "container")
        broker = self.get_broker(device, part, account, container)
        if broker.is_deleted():
            raise HTTPNotFound("Container not found")
        # as in Swift, a POST moves the put timestamp, so Last-Modified follows it
        broker.update_put_timestamp(timestamp)
        self._store_metadata(req, broker, timestamp)
        return Response(status=204)


def app_factory(global_conf: dict, **local_conf) -> ContainerServer:
    """PasteDeploy factory of ``egg:oiofs#container``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return ContainerServer(conf)
