"""``GET /healthcheck``: 200 ``OK`` for load balancers, or 503 while a file says so.

With ``disable_path = /some/file`` an operator takes the proxy out of a load balancer's
rotation by creating that file (``503 DISABLED BY FILE``) without stopping it.
"""

from __future__ import annotations

import os

from oiofs.proxy.request import ensure_trans_id


class HealthCheck:
    """Answers ``/healthcheck`` itself and passes every other request on."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.disable_path = conf.get("disable_path", "") or ""

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/healthcheck":
            return self.app(environ, start_response)
        if self.disable_path and os.path.exists(self.disable_path):
            status, body = "503 Service Unavailable", b"DISABLED BY FILE"
        else:
            status, body = "200 OK", b"OK"
        start_response(status, [("Content-Type", "text/plain"),
                                ("Content-Length", str(len(body))),
                                ("X-Trans-Id", ensure_trans_id(environ))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#healthcheck``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: HealthCheck(app, conf)
