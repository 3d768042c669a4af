"""list_endpoints: where a name lives, for clients that want to read from the nodes near
them (or for operators and tools).

``GET /endpoints/v2/<account>[/<container>[/<object>]]`` answers JSON
``{"endpoints": [urls], "headers": {...}}``: one URL per primary node,
``http://<ip>:<port>/<device>/<partition>/<account>[/<container>[/<object>]]``, and the
headers a request to those nodes needs (``X-Backend-Storage-Policy-Index`` for objects:
the container's policy, or the default policy when the container does not exist).
``GET /endpoints/<account>...`` (or ``/endpoints/v1/...``) answers the bare list, as
Swift's first version did. Names in the path are URL-encoded; only ``GET`` is allowed.

Configuration (``[filter:list_endpoints]``)::

    list_endpoints_path = /endpoints/

Other requests cost one prefix comparison.
"""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.exceptions import HTTPBadRequest, HTTPError, HTTPMethodNotAllowed
from oiofs.common.storage_policy import POLICIES
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.infos import ProxyInfos
from oiofs.proxy.middleware.subrequest import error_response
from oiofs.proxy.request import ensure_trans_id


def parse_endpoints_path(rest: str) -> tuple[int, str, str | None, str | None]:
    """``(version, account, container, object)`` (text) of the path after the prefix.

    >>> parse_endpoints_path("v2/AUTH_a/c/o/with/slashes")
    (2, 'AUTH_a', 'c', 'o/with/slashes')
    >>> parse_endpoints_path("AUTH_a/c%20d")
    (1, 'AUTH_a', 'c d', None)
    """
    version = 1
    head, _, tail = rest.partition("/")
    if head in ("v1", "v2"):
        version, rest = int(head[1]), tail
    parts = rest.split("/", 2)
    names = [unquote(p, errors="strict") for p in parts]
    if not names[0] or (len(names) > 1 and not names[1]) or \
            (len(names) > 2 and not names[2]):
        raise HTTPBadRequest("No account specified" if not names[0] else "Bad path")
    names += [None] * (3 - len(names))  # type: ignore[list-item]
    return version, names[0], names[1], names[2]


def endpoint_urls(nodes: list, part: int, account: str, container: str | None,
                  obj: str | None) -> list[str]:
    """The storage URLs of ``nodes`` for a name."""
    suffix = "/".join(quote(n, safe="") if i < 2 else quote(n)
                      for i, n in enumerate(x for x in (account, container, obj)
                                            if x is not None))
    urls = []
    for node in nodes:
        ip = node["ip"]
        host = f"[{ip}]" if ":" in ip else ip
        urls.append(f"http://{host}:{node['port']}/{quote(node['device'])}/{part}/{suffix}")
    return urls


class ListEndpoints:
    """The list_endpoints filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.infos = ProxyInfos(app)
        path = (conf.get("list_endpoints_path") or "/endpoints/").strip()
        self.prefix = "/" + path.strip("/") + "/"
        register_info("list_endpoints", {"list_endpoints_path": self.prefix})

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return self.app(environ, start_response)
        try:
            if environ["REQUEST_METHOD"] != "GET":
                raise HTTPMethodNotAllowed(headers={"Allow": "GET"})
            try:
                rest = path[len(self.prefix):].encode("latin-1").decode("utf-8")
                version, account, container, obj = parse_endpoints_path(rest)
            except UnicodeError:
                raise HTTPBadRequest("Invalid UTF8") from None
            body = json.dumps(self.endpoints(environ, version, account, container, obj))
        except HTTPError as err:
            return error_response(environ, start_response, err)
        data = body.encode("utf-8")
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Length", str(len(data))),
                                  ("X-Trans-Id", ensure_trans_id(environ))])
        return [data]

    def endpoints(self, environ: dict, version: int, account: str, container: str | None,
                  obj: str | None):
        proxy = self.infos.proxy
        headers = {}
        if obj is not None and container is not None:
            info = self.infos.container(environ, account, container)
            policy = POLICIES.get_by_index(info.policy_index) if info.exists else None
            policy = policy or POLICIES.default
            ring = proxy.object_ring(policy.idx)
            headers[POLICY_INDEX_HEADER] = str(policy.idx)
        elif container is not None:
            ring = proxy.container_ring
        else:
            ring = proxy.account_ring
        part, nodes = ring.get_nodes(account, container, obj)
        urls = endpoint_urls(nodes, part, account, container, obj)
        return urls if version == 1 else {"endpoints": urls, "headers": headers}


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#list_endpoints``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: ListEndpoints(app, conf)
