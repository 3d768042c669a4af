"""``admin`` filter: the proxy's side of the ``ADMIN`` verb (``docs/directory.md``).

First in the pipeline, so that no other filter (auth, ratelimit) sees an admin request
and the live settings changed by another worker are in force before any filter runs::

    [filter:admin]
    use = egg:oiofs#admin
    allowed_hosts = 127.0.0.1, ::1   # who may send ADMIN requests (REMOTE_ADDR)

The proxy is the one oiofs server clients reach, so an ``ADMIN`` request from an address
not in ``allowed_hosts`` is refused (403) before anything is read; other verbs pass on.
Operations: those of :class:`~oiofs.common.admin_service.ServiceAdmin` (``info``,
``get_config``, ``set_config``, ``reload_lb``), ``flush_cache`` (``{"high": bool, "low":
bool}``: the account and the container info caches, in every worker) and
``cache_status`` (the entries of the answering worker's caches; each worker has its own).
Live settings: the proxy's (``log_level``, ``error_suppression_limit``,
``error_suppression_interval``, ``conn_timeout``, ``node_timeout``) and those of filters
that register some (``ratelimit``: ``account_ratelimit``, ``max_sleep_time_seconds``).
"""

from __future__ import annotations

import os

from oiofs.common.admin_service import (
    JSON_TYPE,
    ServiceAdmin,
    json_body,
    read_admin_request,
)
from oiofs.common.config import conf_int
from oiofs.common.exceptions import HTTPError, HTTPForbidden, HTTPNotImplemented
from oiofs.common.http.error_page import error_body
from oiofs.proxy.middleware.subrequest import proxy_app
from oiofs.proxy.response import status_line


def _hosts(value: str) -> frozenset[str]:
    return frozenset(h.strip() for h in value.replace(",", " ").split() if h.strip())


class AdminFilter:
    """Answers ``ADMIN`` requests from the allowed hosts; passes everything else on."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.allowed_hosts = _hosts(conf.get("allowed_hosts", "127.0.0.1, ::1"))
        self.proxy = proxy_app(app)
        self.live = self.proxy.live_config
        # every element of the pipeline below may add live settings (before the fork)
        element = app
        while element is not None:
            register = getattr(element, "register_live_settings", None)
            if register is not None:
                register(self.live)
            element = getattr(element, "app", None)
        self.service = ServiceAdmin("proxy-server", self.live,
                                    conf_int(conf, "workers", 1, minimum=0),
                                    self._cache_status)

    def _cache_status(self) -> dict:
        return {"pid": os.getpid(), "account": self.proxy.account_cache.status(),
                "container": self.proxy.container_cache.status()}

    def __call__(self, environ, start_response):
        self.live.refresh()
        if environ.get("REQUEST_METHOD") != "ADMIN":
            return self.app(environ, start_response)
        try:
            if environ.get("REMOTE_ADDR") not in self.allowed_hosts:
                raise HTTPForbidden("ADMIN requests are not allowed from this address")
            status, body = 200, json_body(self.handle(environ))
            headers = [("Content-Type", JSON_TYPE)]
        except HTTPError as err:
            status, body = err.status, error_body(err.status, err.detail)
            headers = [("Content-Type", "text/plain; charset=UTF-8")]
        headers.append(("Content-Length", str(len(body))))
        start_response(status_line(status), headers)
        return [body]

    def handle(self, environ: dict) -> dict:
        """The answer to one admin operation (raises HTTP errors)."""
        op, args = read_admin_request(environ)
        if op == "flush_cache":
            flushed = []
            if args.get("high", True):
                self.live.signal("flush_account_cache")
                flushed.append("account")
            if args.get("low", True):
                self.live.signal("flush_container_cache")
                flushed.append("container")
            return {"flushed": flushed, "workers": self.service.workers}
        if op == "cache_status":
            return self._cache_status()
        if op not in ("info", "get_config", "set_config", "reload_lb"):
            raise HTTPNotImplemented(f"the proxy has no admin operation {op!r}")
        return self.service.handle(op, args)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy factory of ``egg:oiofs#admin``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: AdminFilter(app, conf)
