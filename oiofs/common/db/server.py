"""What the container and account servers share: paths, devices, brokers, metadata, errors.

:class:`DbServerApp` is a :class:`~oiofs.common.base_app.BaseServerApp` that knows where
databases live (``devices``/``mount_check``), keeps recently used brokers (and their open
sqlite connections) in a small cache, reads user metadata from request headers, and maps
the database errors to HTTP statuses in one place (:meth:`DbServerApp.translate_error`).

Options read here (every one in ``[app:...]`` or ``[DEFAULT]``): ``devices``
(``/srv/node``), ``mount_check`` (true), ``conn_timeout`` (0.5 s), ``node_timeout`` (3 s),
``auto_create_account_prefix`` (``.``), ``db_preallocation`` (false), ``broker_cache_size``
(64 open databases per worker), ``db_busy_timeout`` (25 s), ``pending_cap`` (131072
bytes), ``fsync_in_threads`` (``auto``: pending-file fsyncs run inline while the disk is
fast, in a real thread after a slow one; :func:`pending_fsync`), ``fsync_inline_limit``.

The ``ADMIN`` verb (``docs/directory.md``, "Admin"): on ``/`` the service operations of
:class:`~oiofs.common.admin_service.ServiceAdmin` (live settings ``log_level``,
``conn_timeout``, ``node_timeout``; ``flush_cache`` closes every worker's cached brokers;
``reload_lb`` rereads the ring of the base operations; ``volume_index``: the index of
bases of every volume, ``oiofs.directory.indexer``), on a base's path the operations of
:class:`~oiofs.common.db.admin_rpc.DbAdminRpc`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic

from werkzeug.wrappers import Request, Response

from oiofs.common.admin_service import (
    FLUSH_CACHE,
    JSON_TYPE,
    RELOAD_LB,
    ServiceAdmin,
    json_body,
    read_admin_request,
)
from oiofs.common.backend_protocol import INCLUDE_DELETED_HEADER, LOWER_INCLUSIVE_HEADER
from oiofs.common.base_app import BaseServerApp, request_path
from oiofs.common.config import conf_bool, conf_float, conf_int, config_true_value
from oiofs.common.constraints import (
    LIMITS,
    split_path,
    valid_timestamp,
)
from oiofs.common.db.admin_rpc import DbAdminRpc
from oiofs.common.db.broker import BrokerT, db_dir_for
from oiofs.common.db.group_fsync import GroupFsync
from oiofs.common.db.listing_format import ListingParams, iter_json
from oiofs.common.db.replication_rpc import ReplicationRpc
from oiofs.common.db.replicator import DbReplicator
from oiofs.common.db.volume_index import read_indexes
from oiofs.common.exceptions import (
    DbAlreadyExists,
    DbLockTimeout,
    DbNotFound,
    DbQuarantined,
    DiskFileNoSpace,
    HTTPBadRequest,
    HTTPError,
    HTTPInsufficientStorage,
    HTTPInternalServerError,
    HTTPNotFound,
    HTTPServiceUnavailable,
    LockTimeout,
)
from oiofs.common.live_config import (
    LiveConfig,
    parse_log_level,
    parse_non_negative,
    set_logger_level,
)
from oiofs.common.real_threads import run_in_thread
from oiofs.common.timestamp import Timestamp


def str_to_wsgi(value: str) -> str:
    """Text as a WSGI header value (its UTF-8 bytes, latin-1 decoded)."""
    try:
        value.encode("latin-1")
        if value.isascii():
            return value
    except UnicodeEncodeError:
        pass
    return value.encode("utf-8", "surrogateescape").decode("latin-1")


def header_to_str(value: str) -> str:
    """A WSGI header value as text; ``HTTPBadRequest`` if it is not valid UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return value
    except UnicodeDecodeError:
        raise HTTPBadRequest("Invalid UTF8 in header value") from None


def is_user_or_sys_meta(target_type: str, name: str) -> bool:
    """True for ``X-<Type>-Meta-*`` and ``X-<Type>-Sysmeta-*`` header names."""
    lname = name.lower()
    return lname.startswith((f"x-{target_type}-meta-", f"x-{target_type}-sysmeta-"))


def metadata_limits_validator(target_type: str) -> Callable[[dict[str, Any]], None]:
    """A check of merged metadata against the overall count and size limits (400)."""
    prefix = f"x-{target_type}-meta-"

    def validate(metadata: dict[str, Any]) -> None:
        count = size = 0
        for key, (value, _ts) in metadata.items():
            lkey = key.lower()
            if value and lkey.startswith(prefix):
                count += 1
                size += len(lkey) - len(prefix) + len(value)
        if count > LIMITS.max_meta_count:
            raise HTTPBadRequest(f"Too many metadata items; max {LIMITS.max_meta_count}")
        if size > LIMITS.max_meta_overall_size:
            raise HTTPBadRequest(f"Total metadata too large; max {LIMITS.max_meta_overall_size}")

    return validate


def _thread_fsync(fd: int) -> None:
    # the fsync of a pending append runs in a real thread: other requests of this worker
    # go on meanwhile, and their own fsyncs of the same file share the journal commit
    run_in_thread(os.fsync, fd)


def pending_fsync(conf: dict[str, Any]) -> Callable[[int], None]:
    """The fsync of pending-file appends ``fsync_in_threads`` asks for.

    ``auto`` (the default): in the worker's own thread while the disk is fast, in a
    real thread for a while once the inline fsyncs took ``fsync_inline_limit`` seconds
    (0.02) on average, see :mod:`oiofs.common.db.group_fsync`; ``true``: always in a real
    thread; ``false``: always inline. Concurrent appends to one file share an fsync
    in the first two cases.
    """
    mode = str(conf.get("fsync_in_threads", "auto")).strip().lower()
    if mode == "auto":
        return GroupFsync(_thread_fsync, inline=os.fsync,
                          inline_limit=conf_float(conf, "fsync_inline_limit", 0.02))
    if conf_bool(conf, "fsync_in_threads", True):
        return GroupFsync(_thread_fsync)
    return os.fsync


class DbServerApp(BaseServerApp, Generic[BrokerT]):
    """Base of the container and account WSGI servers."""

    #: ``containers`` or ``accounts``
    datadir = ""
    broker_class: type[BrokerT]  # set by each server
    #: the replicator of these databases (``sync`` and ``reload_lb`` admin operations)
    replicator_class: type[DbReplicator[Any]]

    def __init__(self, conf: dict[str, Any], logger: logging.Logger | None = None):
        super().__init__(conf, logger)
        self.devices: str = conf.get("devices", "/srv/node")
        self.mount_check = conf_bool(conf, "mount_check", True)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 3.0)
        self.auto_create_account_prefix = conf.get("auto_create_account_prefix", ".")
        self.db_preallocation = conf_bool(conf, "db_preallocation", False)
        self.broker_cache_size = conf_int(conf, "broker_cache_size", 64, minimum=0)
        self.db_busy_timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.pending_cap = conf_int(conf, "pending_cap", 131072, minimum=1024)
        self._brokers: OrderedDict[tuple[str, str, str, str | None], BrokerT] = OrderedDict()
        self.fsync = pending_fsync(conf)
        self.replication_rpc = ReplicationRpc(self)
        self.admin_rpc = DbAdminRpc(self)
        self.live_config = self._make_live_config()
        self.service_admin = ServiceAdmin(self.server_type, self.live_config,
                                          conf_int(conf, "workers", 1, minimum=0),
                                          lambda: {"devices": self.devices,
                                                   "cached_brokers": len(self._brokers)})

    def _make_live_config(self) -> LiveConfig:
        """The settings an operator may change at run time (made before the fork)."""
        live = LiveConfig()
        live.add("log_level", parse_log_level, lambda: logging.getLevelName(
            self.logger.getEffectiveLevel()), lambda v: set_logger_level(self.logger, v))
        for name in ("conn_timeout", "node_timeout"):
            live.add(name, parse_non_negative, functools.partial(getattr, self, name),
                     functools.partial(setattr, self, name))
        live.on_event(FLUSH_CACHE, self.flush_brokers)
        live.on_event(RELOAD_LB, self.admin_rpc.reload_ring)
        return live

    def flush_brokers(self) -> None:
        """Close and forget this worker's cached brokers."""
        while self._brokers:
            _key, broker = self._brokers.popitem()
            broker.close()

    # --- errors ---------------------------------------------------------------------

    def translate_error(self, err: Exception) -> HTTPError | None:
        """Database errors as HTTP statuses (the one place they are mapped)."""
        if isinstance(err, DbNotFound):
            return HTTPNotFound()
        if isinstance(err, (DbLockTimeout, LockTimeout)):
            self.logger.warning("lock timeout: %s", err)
            return HTTPServiceUnavailable("Database is busy")
        if isinstance(err, DiskFileNoSpace):
            return HTTPInsufficientStorage("No space left on device")
        if isinstance(err, DbQuarantined):
            return HTTPInternalServerError("Database was corrupt and is quarantined")
        if isinstance(err, DbAlreadyExists):
            return HTTPServiceUnavailable("Database is being created")
        return None

    # --- requests ---------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Apply live settings changed by another worker, then dispatch ``req``."""
        self.live_config.refresh()
        return super().handle(req)

    def ADMIN(self, req: Request) -> Response:
        """An operator's request (``docs/directory.md``, "Admin"): service operations on
        ``/``, base operations on a base's path."""
        op, args = read_admin_request(req.environ)
        if request_path(req) in ("", "/"):
            if op == "volume_index":
                return Response(json_body(read_indexes(self.devices)), status=200,
                                content_type=JSON_TYPE)
            result = self.service_admin.handle(op, args)
        else:
            result = self.admin_rpc.handle(req, op, args)
        return Response(json_body(result), status=200, content_type=JSON_TYPE)

    def REPLICATE(self, req: Request) -> Response:
        """A database replicator's request (``docs/backend-protocol.md``, REPLICATE)."""
        return self.replication_rpc.handle(req)

    def split_db_path(self, req: Request, minsegs: int, maxsegs: int,
                      rest_with_last: bool = False) -> list[Any]:
        """``[device, partition, account, container?, obj?]`` of a backend path.

        The first ``minsegs`` segments are ``str``, the others ``str`` or ``None`` (typed
        ``Any``: which is which depends on ``minsegs``, which mypy cannot follow; the
        callers unpack the list into names).

        400 for a malformed path (empty, ``.`` or ``..`` segments, a partition that is not
        a number) and 507 if the device is not usable.
        """
        path = request_path(req)
        if "\x00" in path:
            raise HTTPBadRequest("Invalid path")
        segs = split_path(path, minsegs, maxsegs, rest_with_last)
        device, partition = segs[0], segs[1]
        if device is None or partition is None:  # only if minsegs < 2, which no caller asks
            raise HTTPBadRequest("Invalid path")
        if not partition.isdigit() or not partition.isascii():
            raise HTTPBadRequest("Invalid partition")
        self.check_device(device)
        return segs

    def check_device(self, device: str) -> str:
        """The device's directory; 507 if it is missing (or not mounted with mount_check)."""
        # split_path refused "", "." and ".." and the device holds no "/": this path is
        # directly under the devices directory
        path = os.path.join(self.devices, device)
        if self.mount_check:
            if not os.path.ismount(path):
                raise HTTPInsufficientStorage(f"{device} is not mounted")
        elif not os.path.isdir(path):
            raise HTTPInsufficientStorage(f"{device} is not available")
        return path

    @staticmethod
    def request_timestamp(req: Request) -> Timestamp:
        """The request's ``X-Timestamp``; 400 if missing or invalid."""
        return valid_timestamp(req.headers.get("X-Timestamp"))

    def get_broker(self, device: str, partition: str, account: str,
                   container: str | None = None, **kwargs: Any) -> BrokerT:
        """The broker of a database, reused from the cache when recently used.

        Reusing brokers keeps their sqlite connection open across requests (the broker
        reopens it if the file is replaced). ``kwargs`` set ``stale_reads_ok`` and
        ``pending_timeout`` for this use.
        """
        key = (device, partition, account, container)
        broker = self._brokers.pop(key, None)
        if broker is None:
            _directory, db_file = db_dir_for(self.devices, device, self.datadir, partition,
                                             account, container)
            broker = self.broker_class(
                db_file, timeout=self.db_busy_timeout, logger=self.logger, account=account,
                container=container, pending_cap=self.pending_cap,
                db_preallocation=self.db_preallocation, fsync=self.fsync)
        # per-use settings: a request runs its database calls without yielding to another
        # green thread in between (the pending fsync yields only after the calls)
        broker.stale_reads_ok = kwargs.get("stale_reads_ok", False)
        broker.pending_timeout = kwargs.get("pending_timeout", 10.0)
        if self.broker_cache_size:
            self._brokers[key] = broker
            while len(self._brokers) > self.broker_cache_size:
                _path, old = self._brokers.popitem(last=False)
                old.close()
        return broker

    def metadata_from_headers(self, req: Request, target_type: str, timestamp: Timestamp,
                              extra_headers: tuple[str, ...] = ()) -> dict[str, list[str]]:
        """``{header: [value, timestamp]}`` for the user/system metadata in ``req`` and the
        ``extra_headers`` (lower-case names) this server stores, values as text."""
        stamp = timestamp.internal
        metadata: dict[str, list[str]] = {}
        for name, value in req.headers.items():
            if is_user_or_sys_meta(target_type, name) or name.lower() in extra_headers:
                metadata[header_to_str(name)] = [header_to_str(value), stamp]
        return metadata

    @staticmethod
    def metadata_headers(metadata: dict[str, Any], target_type: str,
                         extra_headers: tuple[str, ...] = ()) -> dict[str, str]:
        """Response headers for stored metadata (deleted, i.e. empty, values left out)."""
        headers: dict[str, str] = {}
        for key, (value, _ts) in metadata.items():
            if value != "" and (is_user_or_sys_meta(target_type, key)
                                or key.lower() in extra_headers):
                headers[str_to_wsgi(key)] = str_to_wsgi(value)
        return headers


def wants_raw_rows(req: Request) -> bool:
    """True for the backend-only listing form a proxy merges replicas with
    (``X-Backend-Include-Deleted: true``, docs/backend-protocol.md)."""
    return config_true_value(req.headers.get(INCLUDE_DELETED_HEADER, ""))


def raw_rows_response(req: Request, listing: ListingParams,
                      list_rows: Callable[..., list[Any]], keys: tuple[str, ...],
                      headers: dict[str, str]) -> Response:
    """The raw form's answer: every row of the range, deleted ones included, as JSON
    objects with ``keys`` (the columns ``list_rows`` returns), with ``headers`` (the
    usual listing headers, the content type set here). ``list_rows(limit, marker,
    end_marker, prefix, reverse=..., lower_inclusive=...)`` is the broker's; 400 with a
    delimiter or path (the proxy applies those rules to the merged rows)."""
    if listing.delimiter is not None or listing.path is not None:
        raise HTTPBadRequest(f"No delimiter or path with {INCLUDE_DELETED_HEADER}")
    rows = list_rows(listing.limit, listing.marker, listing.end_marker, listing.prefix,
                     reverse=listing.reverse, lower_inclusive=config_true_value(
                         req.headers.get(LOWER_INCLUSIVE_HEADER, "")))
    headers["Content-Type"] = "application/json; charset=utf-8"
    records = (dict(zip(keys, row, strict=True)) for row in rows)
    return Response(iter_json(records), status=200, headers=headers)
