"""The proxy server: the public Swift v1 API in front of the storage nodes.

:class:`Application` routes ``/v1/<account>[/<container>[/<object>]]`` to the account,
container and object controllers and ``/info`` to the info document. It subclasses
:class:`~oiofs.common.base_app.BaseServerApp` for its options, logger and the one place
where errors become statuses (:meth:`Application.translate_error`), but replaces the
werkzeug request/response round trip with a thinner path of its own: the proxy handles
every client request, and that per-request cost is the one worth removing.

State shared by the requests of a worker (all made before the workers fork, and copied
into each): the rings, the keep-alive connection pool, the error limiter, and the
container/account info caches (whose invalidation counters stay shared across workers).
"""

from __future__ import annotations

import logging
import os

from oiofs.common import runtime
from oiofs.common.admin_service import RELOAD_LB
from oiofs.common.base_app import BaseServerApp
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.container_sync_realms import REALMS_FILE, ContainerSyncRealms
from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    HTTPError,
    HTTPForbidden,
    HTTPInternalServerError,
    HTTPRequestTimeout,
    HTTPServiceUnavailable,
    NodeTimeout,
    RingError,
)
from oiofs.common.live_config import (
    LiveConfig,
    parse_log_level,
    parse_non_negative,
    parse_positive_int,
    set_logger_level,
)
from oiofs.common.metrics import get_metrics
from oiofs.common.ring import Ring
from oiofs.common.storage_policy import POLICIES
from oiofs.proxy.backend import Backend
from oiofs.proxy.controllers.account import AccountController
from oiofs.proxy.controllers.container import ContainerController
from oiofs.proxy.controllers.info import info_response
from oiofs.proxy.controllers.obj import ObjectController
from oiofs.proxy.cors import CorsPolicy
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.info_cache import InfoCache
from oiofs.proxy.options import ProxyOptions
from oiofs.proxy.quorum import quorum_size
from oiofs.proxy.request import ProxyRequest, ensure_trans_id
from oiofs.proxy.response import Response, status_line
from oiofs.proxy.scores import make_scoreboard

#: accounts no client may reach (the storage servers' auto_create_account_prefix)
HIDDEN_ACCOUNT_PREFIX = "."


class Application(BaseServerApp):
    """The proxy WSGI application (the last element of the pipeline)."""

    server_type = "proxy-server"

    def __init__(self, conf: dict, logger=None):
        super().__init__(conf, logger)
        self.options = options = ProxyOptions.from_conf(conf)
        load_cluster_config(options.oiofs_dir)
        self.account_ring = Ring(options.oiofs_dir, ring_name="account")
        self.container_ring = Ring(options.oiofs_dir, ring_name="container")
        self.sync_realms = ContainerSyncRealms(os.path.join(options.oiofs_dir, REALMS_FILE))
        self._object_rings: dict[int, Ring] = {}
        for policy in POLICIES:
            self.object_ring(policy.idx)  # fail at start, not at the first request
        self.pool = ConnectionPool(options.conn_timeout, options.node_timeout,
                                   options.max_idle_connections)
        #: the conscience's scores (``directory_endpoints``), else None
        self.scores = make_scoreboard(conf, self.logger, options.conscience_refresh_interval)
        self.limiter = ErrorLimiter(options.error_suppression_limit,
                                    options.error_suppression_interval,
                                    options.error_suppression_time,
                                    drained=self.scores.is_drained if self.scores else None)
        self.metrics = get_metrics(conf, self.server_type)
        self.backend = Backend(self.pool, self.limiter, self.logger, options.shuffle_reads,
                               self.metrics, options.log_repeat_interval, self.scores)
        self.container_cache = InfoCache(options.recheck_container_existence)
        self.account_cache = InfoCache(options.recheck_account_existence)
        self.cors_policy = CorsPolicy(frozenset(options.cors_allow_origin),
                                      options.cors_expose_headers)
        self.account_controller = AccountController(self)
        self.container_controller = ContainerController(self)
        self.object_controller = ObjectController(self)
        self.live_config = self._make_live_config()

    def _make_live_config(self) -> LiveConfig:
        """The settings an operator may change at run time in every worker (``admin``
        filter, ``docs/directory.md``); filters add theirs (``register_live_settings``)."""
        live = LiveConfig()
        live.add("log_level", parse_log_level,
                 lambda: logging.getLevelName(self.logger.getEffectiveLevel()),
                 lambda v: set_logger_level(self.logger, v))
        limiter, pool = self.limiter, self.pool
        live.add("error_suppression_limit", parse_positive_int, lambda: limiter.limit,
                 lambda v: setattr(limiter, "limit", v))
        live.add("error_suppression_interval", parse_non_negative, lambda: limiter.interval,
                 lambda v: setattr(limiter, "interval", v))
        live.add("conn_timeout", parse_non_negative, lambda: pool.conn_timeout,
                 lambda v: setattr(pool, "conn_timeout", v))
        live.add("node_timeout", parse_non_negative, lambda: pool.node_timeout,
                 lambda v: setattr(pool, "node_timeout", v))
        live.on_event("flush_account_cache", self.account_cache.clear_local)
        live.on_event("flush_container_cache", self.container_cache.clear_local)
        live.on_event(RELOAD_LB, self.reload_rings)
        return live

    def reload_rings(self) -> None:
        """Reread every ring file now (they are also reread on their own timer), and the
        conscience's scores (in the background: the request that carried the event does
        not wait for the directory)."""
        for ring in (self.account_ring, self.container_ring, *self._object_rings.values()):
            ring.reload()
        if self.scores is not None:
            runtime.spawn_n(self.scores.refresh)

    # --- cluster ----------------------------------------------------------------------

    def object_ring(self, policy_index: int) -> Ring:
        """The object ring of a storage policy (``HTTPServiceUnavailable`` if unknown)."""
        ring = self._object_rings.get(policy_index)
        if ring is None:
            policy = POLICIES.get_by_index(policy_index)
            if policy is None:
                raise HTTPServiceUnavailable(f"Unknown storage policy {policy_index}")
            ring = Ring(self.options.oiofs_dir, ring_name=policy.ring_name)
            policy.check_ring_replicas(ring.replica_count)  # e.g. EC: k + m nodes
            self._object_rings[policy_index] = ring
        return ring

    @staticmethod
    def quorum(replicas: int) -> int:
        """How many of ``replicas`` nodes must agree on a write."""
        return quorum_size(replicas)

    def cached_container_info(self, environ: dict, account: str, container: str):
        """For filters: a container's info (:class:`~oiofs.proxy.container_info.
        ContainerInfo`, with its system metadata) from this worker's cache, or one
        ``HEAD`` to its servers when not cached. Nothing is authorized here."""
        trans_id = ensure_trans_id(environ, self.options.trans_id_suffix)
        return self.container_controller.container_info(_TransId(trans_id), account,
                                                        container)

    # --- requests ---------------------------------------------------------------------

    def translate_error(self, err: Exception) -> HTTPError | None:
        """Errors below the controllers that are not HTTP errors, as statuses."""
        if isinstance(err, TimeoutError):
            return HTTPRequestTimeout()
        if isinstance(err, (RingError, NodeTimeout, ConnectionTimeout, ClientException)):
            return HTTPServiceUnavailable()
        return None

    def route(self, req: ProxyRequest):
        """The controller for the request's path; 403 for a hidden account.

        Accounts starting with ``.`` (``.expiring_objects``...) belong to the cluster's own
        daemons, which reach them directly on the storage servers; no client request may
        read or change them, whatever the auth middleware allowed.
        """
        if req.account.startswith(HIDDEN_ACCOUNT_PREFIX):
            raise HTTPForbidden("Hidden account")
        if req.obj is not None:
            return self.object_controller
        if req.container is not None:
            return self.container_controller
        return self.account_controller

    def handle_request(self, environ: dict, trans_id: str) -> Response:
        """The response to one request; every error is turned into a status here."""
        try:
            path = environ.get("PATH_INFO", "")
            if path == "/info":
                return info_response(self, environ)
            req = ProxyRequest(environ, trans_id)
            return self.route(req).handle(req)
        except HTTPError as err:
            return Response.from_error(err)
        except Exception as err:  # the one place errors become statuses
            mapped = self.translate_error(err)
            if mapped is not None:
                return Response.from_error(mapped)
            self.logger.exception("ERROR unhandled error with %s %s (txn: %s)",
                                  environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                                  trans_id)
            return Response.from_error(HTTPInternalServerError())

    def __call__(self, environ, start_response):
        self.live_config.refresh()
        trans_id = ensure_trans_id(environ, self.options.trans_id_suffix)
        resp = self.handle_request(environ, trans_id)
        headers = resp.headers
        headers.append(("X-Trans-Id", trans_id))
        headers.append(("X-Openstack-Request-Id", trans_id))
        start_response(status_line(resp.status), headers)
        return resp.body


class _TransId:
    """What a controller's info lookup needs of a request: its transaction id."""

    __slots__ = ("trans_id",)

    def __init__(self, trans_id: str):
        self.trans_id = trans_id


def app_factory(global_conf: dict, **local_conf) -> Application:
    """PasteDeploy entry point ``egg:oiofs#proxy``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return Application(conf)
