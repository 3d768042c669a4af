"""The account server: accounts' databases over HTTP (``docs/backend-protocol.md``).

Verbs on ``/<device>/<partition>/<account>[/<container>]``:

* ``PUT`` account: create (201) or update (202) it with its metadata; 403 if it was
  deleted (until the reaper and reclaim are done with it). ``PUT`` container: record a
  container's report (201, or 204 when the report says it is deleted); 404 if there is
  no account (accounts whose name starts with ``auto_create_account_prefix`` are created).
* ``HEAD``/``GET`` account: totals, per-policy stats and metadata; ``GET`` adds the
  listing of containers.
* ``POST`` account: merge metadata (204). ``DELETE`` account: mark it deleted (204).
* ``REPLICATE /<device>/<partition>/<hash>``: a replicator's request
  (:mod:`oiofs.common.db.replication_rpc`, ``docs/db-replication.md``).

Options (``etc/account-server.conf.sample``) are read in
:class:`~oiofs.common.db.server.DbServerApp`, plus ``backend``: ``sqlite`` (the default,
one database per account on this node's devices) or ``redis`` (every account server of
the cluster shares one Redis, :mod:`oiofs.account.redis_broker`, with the options of
:class:`~oiofs.account.redis_backend.RedisAccountBackend`; ``docs/account-service.md``).
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from oiofs.account.backend import ROW_FIELDS, AccountBroker
from oiofs.account.redis_backend import (
    MetadataLimitExceeded,
    NoSuchAccount,
    RedisAccountBackend,
)
from oiofs.account.redis_broker import RedisAccountBroker
from oiofs.account.replicator import AccountReplicator
from oiofs.common import constraints
from oiofs.common.backend_protocol import POLICY_INDEX_HEADER, ROWS_HASH_HEADER
from oiofs.common.base_app import request_path
from oiofs.common.constraints import LIMITS
from oiofs.common.db.listing_format import (
    QueryParams,
    account_row_to_record,
    get_listing_content_type,
    iter_listing_body,
    max_listing_limit,
    parse_listing_params,
)
from oiofs.common.db.server import (
    DbServerApp,
    metadata_limits_validator,
    raw_rows_response,
    wants_raw_rows,
)
from oiofs.common.exceptions import (
    ConfigError,
    DbAlreadyExists,
    HTTPBadRequest,
    HTTPConflict,
    HTTPError,
    HTTPForbidden,
    HTTPNotFound,
    HTTPNotImplemented,
    HTTPServiceUnavailable,
    InvalidTimestamp,
)
from oiofs.common.redis_conn import RedisUnavailable
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp


def _header_timestamp(req: Request, name: str, default=None) -> Timestamp:
    value = req.headers.get(name)
    if value is None:
        if default is None:
            raise HTTPBadRequest(f"Missing {name}")
        return Timestamp(default)
    try:
        return Timestamp(value)
    except (InvalidTimestamp, TypeError):
        raise HTTPBadRequest(f"Missing or invalid {name}") from None


def _header_count(req: Request, name: str) -> int:
    value = (req.headers.get(name) or "").strip()
    if not value.isdigit() or not value.isascii():
        raise HTTPBadRequest(f"Missing or invalid {name}")
    return int(value)


class AccountServer(DbServerApp[AccountBroker]):
    """WSGI server of the account databases on this node's devices."""

    server_type = "account-server"
    allowed_methods = frozenset({"PUT", "DELETE", "HEAD", "GET", "POST", "REPLICATE",
                                 "ADMIN"})
    datadir = "accounts"
    broker_class = AccountBroker
    replicator_class = AccountReplicator

    def __init__(self, conf: dict, logger=None):
        super().__init__(conf, logger)
        self.validate_metadata = metadata_limits_validator("account")
        self.backend = str(conf.get("backend", "sqlite")).strip().lower()
        if self.backend not in ("sqlite", "redis"):
            raise ConfigError(f"account server: unknown backend {self.backend!r} "
                              "(sqlite or redis)")
        self.redis_store = RedisAccountBackend(conf) if self.backend == "redis" else None

    def get_broker(self, device: str, partition: str, account: str,
                   container: str | None = None, **kwargs):
        """The account's sqlite broker, or its view in the shared Redis."""
        if self.redis_store is not None:
            return RedisAccountBroker(self.redis_store, account)
        return super().get_broker(device, partition, account, container, **kwargs)

    def translate_error(self, err: Exception) -> HTTPError | None:
        """The Redis store's errors too (the sqlite ones in the base class)."""
        if isinstance(err, RedisUnavailable):
            self.logger.error("account store unavailable: %s", err)
            return HTTPServiceUnavailable("Account store (Redis) unreachable")
        if isinstance(err, NoSuchAccount):
            return HTTPNotFound("Account not found")
        if isinstance(err, MetadataLimitExceeded):
            if "too_many" in str(err):
                return HTTPBadRequest(f"Too many metadata items; max {LIMITS.max_meta_count}")
            return HTTPBadRequest(
                f"Total metadata too large; max {LIMITS.max_meta_overall_size}")
        return super().translate_error(err)

    def REPLICATE(self, req: Request) -> Response:
        """A replicator's request; refused with ``backend = redis`` (nothing to sync)."""
        if self.redis_store is not None:
            raise HTTPNotImplemented("Accounts are kept in Redis: nothing to replicate")
        return super().REPLICATE(req)

    def ADMIN(self, req: Request) -> Response:
        """An operator's request; base operations refused with ``backend = redis`` (the
        accounts are not sqlite bases on this node's devices)."""
        if self.redis_store is not None and request_path(req) not in ("", "/"):
            raise HTTPNotImplemented("Accounts are kept in Redis: no base on this device")
        return super().ADMIN(req)

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _deleted_error(broker: AccountBroker, error=HTTPNotFound, text: str | None = None):
        headers = {}
        if broker.exists() and broker.is_status_deleted():
            headers["X-Account-Status"] = "Deleted"
        return error(text, headers=headers)

    def _response_headers(self, broker: AccountBroker, content_type: str) -> dict:
        info = broker.get_info()
        headers = {
            "X-Account-Container-Count": str(info["container_count"]),
            "X-Account-Object-Count": str(info["object_count"]),
            "X-Account-Bytes-Used": str(info["bytes_used"]),
            "X-Timestamp": Timestamp(info["created_at"]).normal,
            "X-PUT-Timestamp": Timestamp(info["put_timestamp"]).normal,
            "Content-Type": content_type + "; charset=utf-8",
        }
        if info.get("hash"):  # the proxy compares replicas with it (none with Redis)
            headers[ROWS_HASH_HEADER] = str(info["hash"])
        for index, stats in broker.get_policy_stats().items():
            policy = POLICIES.get_by_index(index)
            if policy is None:
                continue
            for key, value in stats.items():
                name = key.replace("_", "-").title()
                headers[f"X-Account-Storage-Policy-{policy.name}-{name}"] = str(value)
        headers.update(self.metadata_headers(broker.metadata, "account"))
        return headers

    def _read_broker(self, req: Request) -> tuple[str, AccountBroker]:
        device, part, account = self.split_db_path(req, 3, 3)
        broker = self.get_broker(device, part, account, pending_timeout=0.1,
                                 stale_reads_ok=True)
        if broker.is_deleted():
            raise self._deleted_error(broker)
        return account, broker

    # --- verbs --------------------------------------------------------------------------

    def PUT(self, req: Request) -> Response:
        """Create/update an account, or record a container's report."""
        device, part, account, container = self.split_db_path(req, 3, 4)
        if container:
            return self._put_container(req, device, part, account, container)
        timestamp = self.request_timestamp(req)
        constraints.check_metadata(req.headers, "account")
        broker = self.get_broker(device, part, account)
        if not broker.exists():
            try:
                broker.initialize(timestamp.internal)
                created = True
            except DbAlreadyExists:
                created = False
        elif broker.is_status_deleted():
            raise self._deleted_error(broker, HTTPForbidden, "Recently deleted")
        else:
            created = broker.is_deleted()
            broker.update_put_timestamp(timestamp)
            if broker.is_deleted():
                raise HTTPConflict("A newer delete exists")
        metadata = self.metadata_from_headers(req, "account", timestamp)
        broker.update_metadata(metadata, self.validate_metadata)
        return Response(status=201 if created else 202)

    def _put_container(self, req: Request, device: str, part: str, account: str,
                       container: str) -> Response:
        timestamp = _header_timestamp(req, "X-Timestamp", Timestamp.now())
        put_ts = _header_timestamp(req, "X-Put-Timestamp")
        delete_ts = _header_timestamp(req, "X-Delete-Timestamp", 0)
        object_count = _header_count(req, "X-Object-Count")
        bytes_used = _header_count(req, "X-Bytes-Used")
        policy = (req.headers.get(POLICY_INDEX_HEADER) or "0").strip()
        if not policy.isdigit() or not policy.isascii():
            raise HTTPBadRequest(f"Invalid {POLICY_INDEX_HEADER}")
        # a container server waiting on us holds its client: do not wait long for a lock
        broker = self.get_broker(device, part, account,
                                 pending_timeout=3.0 if "X-Trans-Id" in req.headers else 10.0)
        if account.startswith(self.auto_create_account_prefix) and not broker.exists():
            try:
                broker.initialize(timestamp.internal)
            except DbAlreadyExists:
                pass
        override = req.headers.get("X-Account-Override-Deleted", "no").lower() == "yes"
        if isinstance(broker, RedisAccountBroker):
            # one round trip: the script refuses a missing or deleted account (404)
            broker.put_container(container, put_ts, delete_ts, object_count, bytes_used,
                                 int(policy), override_deleted=override)
            return Response(status=204 if delete_ts > put_ts else 201)
        if not override and broker.is_deleted():
            raise HTTPNotFound("Account not found")
        broker.put_container(container, put_ts, delete_ts, object_count, bytes_used,
                             int(policy))
        return Response(status=204 if delete_ts > put_ts else 201)

    def HEAD(self, req: Request) -> Response:
        """The account's totals, per-policy stats and metadata (204), or 404."""
        params = QueryParams(req.environ.get("QUERY_STRING", ""))
        content_type = get_listing_content_type(params, req.headers.get("Accept"))
        _account, broker = self._read_broker(req)
        return Response(status=204, headers=self._response_headers(broker, content_type))

    def GET(self, req: Request) -> Response:
        """The account's listing of containers, with the HEAD headers."""
        params = QueryParams(req.environ.get("QUERY_STRING", ""))
        listing = parse_listing_params(params, max_listing_limit("account"))
        content_type = get_listing_content_type(params, req.headers.get("Accept"))
        account, broker = self._read_broker(req)
        if wants_raw_rows(req):
            if not isinstance(broker, AccountBroker):
                raise HTTPNotImplemented("Accounts are kept in Redis: no replicas to merge")
            return raw_rows_response(req, listing, broker.list_rows_with_deleted,
                                     ROW_FIELDS, self._response_headers(broker, content_type))
        headers = self._response_headers(broker, content_type)
        rows = broker.list_containers_iter(listing.limit, listing.marker, listing.end_marker,
                                           listing.prefix, listing.delimiter, listing.reverse)
        if not rows and content_type == "text/plain":
            return Response(status=204, headers=headers)
        body = iter_listing_body(map(account_row_to_record, rows), content_type, "account",
                                 account)
        return Response(body, status=200, headers=headers)

    def POST(self, req: Request) -> Response:
        """Merge the account's metadata (204), or 404."""
        device, part, account = self.split_db_path(req, 3, 3)
        timestamp = self.request_timestamp(req)
        constraints.check_metadata(req.headers, "account")
        broker = self.get_broker(device, part, account)
        if broker.is_deleted():
            raise self._deleted_error(broker)
        broker.update_metadata(self.metadata_from_headers(req, "account", timestamp),
                               self.validate_metadata)
        return Response(status=204)

    def DELETE(self, req: Request) -> Response:
        """Mark the account deleted (204), or 404 if there is none."""
        device, part, account = self.split_db_path(req, 3, 3)
        timestamp = self.request_timestamp(req)
        broker = self.get_broker(device, part, account)
        if broker.is_deleted():
            # This very DELETE (same timestamp), taken already: by another account server
            # sharing the one Redis, which the proxy asked at the same moment (seen
            # under load: two of three answered 404 and the client got 404), or by this
            # server for a request sent again. Either way it is done: 204.
            if broker.exists() and broker.is_status_deleted() and \
                    Timestamp(broker.get_info()["delete_timestamp"]) == timestamp:
                return Response(status=204, headers={"X-Account-Status": "Deleted"})
            raise self._deleted_error(broker)
        broker.delete_db(timestamp)
        return Response(status=204, headers={"X-Account-Status": "Deleted"})


def app_factory(global_conf: dict, **local_conf) -> AccountServer:
    """PasteDeploy factory of ``egg:oiofs#account``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return AccountServer(conf)
