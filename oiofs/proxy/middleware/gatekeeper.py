"""gatekeeper: clients never send nor see the cluster's internal headers.

Inbound, the request headers ``X-Backend-*``, ``X-Account-Sysmeta-*``,
``X-Container-Sysmeta-*``, ``X-Object-Sysmeta-*`` and ``X-Object-Transient-Sysmeta-*``
are removed from the environ, so that no client can speak the backend protocol or forge
the metadata middlewares keep for themselves; outbound, the same headers are removed from
every answer. It sits first in the pipeline (after ``healthcheck``) so that filters behind
it may still add such headers to their own subrequests. Client ``X-Timestamp`` headers are
dropped too: the proxy always stamps requests itself. What was removed is kept aside in
``environ[INBOUND_KEY]`` (an environ key, which no client can set): the container_sync
filter gives a verified sync request back its ``X-Timestamp`` and object system metadata.

A request without internal headers costs one pass over the environ keys and one over the
response headers.
"""

from __future__ import annotations

from oiofs.proxy.controllers.info import register_info

#: Lower-case header-name prefixes that belong to the cluster, not to clients.
INTERNAL_PREFIXES = ("x-backend-", "x-account-sysmeta-", "x-container-sysmeta-",
                     "x-object-sysmeta-", "x-object-transient-sysmeta-")
_ENV_PREFIXES = tuple("HTTP_" + p.upper().replace("-", "_") for p in INTERNAL_PREFIXES)
_ENV_DROPPED = ("HTTP_X_TIMESTAMP",)
#: environ key: ``{environ key: value}`` of the headers removed from the request
INBOUND_KEY = "oiofs.inbound_internal"


def is_internal_header(name: str) -> bool:
    """Whether a response header ``name`` must not reach a client.

    >>> is_internal_header("X-Backend-Timestamp"), is_internal_header("X-Object-Meta-A")
    (True, False)
    """
    return name.lower().startswith(INTERNAL_PREFIXES)


def strip_inbound(environ: dict) -> None:
    """Remove internal request headers (and ``X-Timestamp``) from ``environ``."""
    removed = [k for k in environ if k.startswith(_ENV_PREFIXES) or k in _ENV_DROPPED]
    if removed:
        environ[INBOUND_KEY] = {key: environ.pop(key) for key in removed}


def strip_outbound(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without the internal ones."""
    return [(name, value) for name, value in headers if not is_internal_header(name)]


class Gatekeeper:
    """The gatekeeper filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        register_info("gatekeeper", {})

    def __call__(self, environ, start_response):
        strip_inbound(environ)

        def gated_start_response(status, headers, exc_info=None):
            return start_response(status, strip_outbound(headers), exc_info)

        return self.app(environ, gated_start_response)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#gatekeeper``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: Gatekeeper(app, conf)
