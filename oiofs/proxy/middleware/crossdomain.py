"""crossdomain: ``GET /crossdomain.xml``, the cross-domain policy Flash and Silverlight
clients ask for before they talk to another host.

Configuration (``[filter:crossdomain]``)::

    cross_domain_policy = <allow-access-from domain="*" secure="false" />

(several lines may be given, indented, as one option value). Other requests cost one
string comparison.
"""

from __future__ import annotations

from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.request import ensure_trans_id

PATH = "/crossdomain.xml"
DEFAULT_POLICY = '<allow-access-from domain="*" secure="false" />'


def policy_document(policy: str) -> bytes:
    """The whole XML document around the configured ``policy`` lines.

    >>> print(policy_document(DEFAULT_POLICY).decode())  # doctest: +NORMALIZE_WHITESPACE
    <?xml version="1.0"?>
    <!DOCTYPE cross-domain-policy SYSTEM
      "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >
    <cross-domain-policy>
    <allow-access-from domain="*" secure="false" />
    </cross-domain-policy>
    """
    lines = "\n".join(line.strip() for line in policy.strip().splitlines() if line.strip())
    return ('<?xml version="1.0"?>\n<!DOCTYPE cross-domain-policy SYSTEM\n'
            '  "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
            f"<cross-domain-policy>\n{lines}\n</cross-domain-policy>\n").encode()


class CrossDomain:
    """The crossdomain filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.body = policy_document(conf.get("cross_domain_policy") or DEFAULT_POLICY)
        register_info("crossdomain", {})

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or \
                environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/xml; charset=utf-8"),
                                  ("Content-Length", str(len(self.body))),
                                  ("X-Trans-Id", ensure_trans_id(environ))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [self.body]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#crossdomain``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: CrossDomain(app, conf)
