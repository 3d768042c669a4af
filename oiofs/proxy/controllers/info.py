"""``GET /info``: what this cluster offers and its limits, for clients to discover.

Middlewares add their own section with :func:`register_info` when they are built
(``tempauth`` says it supports account ACLs, for instance).
"""

from __future__ import annotations

import json

from oiofs import __version__
from oiofs.common import constraints
from oiofs.common.exceptions import HTTPMethodNotAllowed
from oiofs.common.storage_policy import POLICIES
from oiofs.proxy.response import Response

_REGISTRY: dict[str, dict] = {}


def register_info(section: str, values: dict) -> None:
    """Publish ``values`` under ``section`` in ``/info`` (merged with earlier ones)."""
    _REGISTRY.setdefault(section, {}).update(values)


def info_document(options) -> dict:
    """The whole ``/info`` document."""
    swift: dict[str, object] = dict(constraints.LIMITS.as_dict())
    swift.update({
        "version": __version__,
        "valid_api_versions": ["v1", "v1.0"],
        "policies": [p.info() for p in POLICIES if not p.is_deprecated],
        "strict_cors_mode": True,
        "account_autocreate": options.account_autocreate,
        "allow_account_management": options.allow_account_management,
    })
    doc = {"swift": swift,
           "cors": {"allow_origin": list(options.cors_allow_origin),
                    "expose_headers": list(options.cors_expose_headers)}}
    for section, values in _REGISTRY.items():
        doc[section] = dict(values)
    return doc


def info_response(app, environ) -> Response:
    """Answer ``GET``/``HEAD``/``OPTIONS`` on ``/info``."""
    method = environ["REQUEST_METHOD"]
    if method == "OPTIONS":
        headers = [("Allow", "GET, HEAD, OPTIONS")]
        origin = environ.get("HTTP_ORIGIN")
        if origin:
            headers += [("Access-Control-Allow-Origin", origin),
                        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")]
        return Response.simple(200, headers=headers)
    if method not in ("GET", "HEAD") or not app.options.expose_info:
        raise HTTPMethodNotAllowed(headers={"Allow": "GET, HEAD, OPTIONS"})
    body = json.dumps(info_document(app.options), sort_keys=True).encode("utf-8")
    resp = Response.simple(200, body, content_type="application/json; charset=utf-8")
    if method == "HEAD":
        resp.body = []
    return resp
