"""The service half of the ``ADMIN`` verb, shared by the db servers and the proxy.

``ADMIN <path>`` with ``X-Backend-Admin-Op: <op>`` and, for operations with arguments, a
JSON object as body; the answer is a JSON document (``docs/directory.md``, "Admin").
:func:`read_admin_request` reads such a request, :class:`ServiceAdmin` answers the
operations every oiofs server has:

* ``info``: what the server is (type, pid, workers, start time, its live settings);
* ``get_config`` / ``set_config``: the :class:`~oiofs.common.live_config.LiveConfig`
  settings, changed in every worker without a restart (``set_config`` takes
  ``{"config": {name: value}}``; an unknown name or a bad value is a 400);
* ``flush_cache`` / ``reload_lb``: events fired in every worker (the server registered
  what they do: drop cached brokers or info, reread the rings now).

Any other operation is 501 unless the server handles it first.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from oiofs.common.backend_protocol import ADMIN_OP_HEADER
from oiofs.common.exceptions import (
    ConfigError,
    HTTPBadRequest,
    HTTPLengthRequired,
    HTTPNotImplemented,
    HTTPRequestEntityTooLarge,
)
from oiofs.common.http.body import RequestBody
from oiofs.common.live_config import LiveConfig

#: the largest ADMIN body accepted (arguments only; bases travel over REPLICATE)
MAX_ADMIN_BODY = 1024 * 1024
JSON_TYPE = "application/json"
#: the operations :class:`ServiceAdmin` answers
SERVICE_OPS = ("info", "get_config", "set_config", "flush_cache", "reload_lb")

#: event names of :class:`~oiofs.common.live_config.LiveConfig` fired by the ops
FLUSH_CACHE = "flush_cache"
RELOAD_LB = "reload_lb"


def read_admin_request(environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(op, args)`` of an ``ADMIN`` request; 400 without an op or with a body that
    is not a JSON object, 411/413 for a body of unknown or excessive length."""
    op = str(environ.get("HTTP_" + ADMIN_OP_HEADER.upper().replace("-", "_"), "")).strip()
    if not op:
        raise HTTPBadRequest(f"ADMIN needs an {ADMIN_OP_HEADER} header")
    length_text = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    if not length_text:
        if chunked:
            raise HTTPLengthRequired()
        return op, {}
    try:
        length = int(length_text)
    except ValueError:
        raise HTTPBadRequest("Invalid Content-Length") from None
    if length > MAX_ADMIN_BODY:
        raise HTTPRequestEntityTooLarge()
    if length <= 0:
        return op, {}
    try:
        args = json.loads(RequestBody.of(environ, length).read_exact(length))
    except ValueError:
        raise HTTPBadRequest("ADMIN body is not JSON") from None
    if not isinstance(args, dict):
        raise HTTPBadRequest("ADMIN body must be a JSON object")
    return op, args


def json_body(result: Any) -> bytes:
    """An admin answer's body."""
    return json.dumps(result, sort_keys=True, default=str).encode("utf-8")


class ServiceAdmin:
    """The service operations of one server (see the module docstring)."""

    def __init__(self, server_type: str, live: LiveConfig, workers: int,
                 extra_info: Callable[[], dict[str, Any]] | None = None):
        self.server_type = server_type
        self.live = live
        self.workers = workers
        self.extra_info = extra_info
        self.started = time.time()

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """The answer to one service operation; 400 for bad arguments, 501 for an
        operation this server does not have."""
        if op == "info":
            info = {"type": self.server_type, "pid": os.getpid(), "workers": self.workers,
                    "started": self.started, "config": self.live.values()}
            if self.extra_info is not None:
                info.update(self.extra_info())
            return info
        if op == "get_config":
            return self.live.values()
        if op == "set_config":
            config = args.get("config")
            if not isinstance(config, dict) or not config:
                raise HTTPBadRequest("set_config needs {\"config\": {name: value}}")
            try:
                self.live.set(config)
            except ConfigError as err:
                raise HTTPBadRequest(str(err)) from None
            return self.live.values()
        if op in (FLUSH_CACHE, RELOAD_LB):
            self.live.signal(op)
            return {"done": op, "workers": self.workers}
        raise HTTPNotImplemented(f"{self.server_type} has no admin operation {op!r}")
