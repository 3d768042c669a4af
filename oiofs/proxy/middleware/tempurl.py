"""tempurl: signed, expiring URLs that open one object (or a prefix) without a token.

Configuration (``[filter:tempurl]``), Swift's options and defaults::

    methods = GET HEAD PUT POST DELETE      # verbs a temp URL may be signed for
    allowed_digests = sha1 sha256 sha512
    incoming_remove_headers = x-timestamp x-open-expired   # request headers dropped
    incoming_allow_headers =                # exceptions to the above
    outgoing_remove_headers = x-object-meta-*              # answer headers dropped
    outgoing_allow_headers = x-object-meta-public-*        # exceptions to the above

(a trailing ``*`` makes a name a prefix). A request whose query has ``temp_url_sig`` and
``temp_url_expires`` is checked against the keys in the account's and the container's
metadata (:mod:`oiofs.proxy.middleware.tempurl_verify`): valid, it goes on as
``REMOTE_USER = .wsgi.tempurl`` allowed on that object only, and the auth filter leaves
it alone; invalid or expired, it is answered ``401 Temp URL invalid``. Requests without
``temp_url_`` in their query cost one substring search.
"""

from __future__ import annotations

import posixpath
import time

from oiofs.common.exceptions import HTTPError, HTTPForbidden
from oiofs.proxy.controllers.base import AUTHORIZE_KEY, AUTHORIZE_OVERRIDE_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware import subrequest
from oiofs.proxy.middleware.tempauth import www_authenticate
from oiofs.proxy.middleware.tempurl_verify import (
    DIGESTS,
    TempURLInvalid,
    content_disposition,
    parse_query,
    verify,
)
from oiofs.proxy.request import TRANS_ID_KEY, ensure_trans_id, split_api_path

DEFAULTS = {"methods": "GET HEAD PUT POST DELETE",
            "allowed_digests": "sha1 sha256 sha512",
            "incoming_remove_headers": "x-timestamp x-open-expired",
            "incoming_allow_headers": "",
            "outgoing_remove_headers": "x-object-meta-*",
            "outgoing_allow_headers": "x-object-meta-public-*"}
TEMPURL_USER = ".wsgi.tempurl"
ACCOUNT_KEYS = ("x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2")
CONTAINER_KEYS = ("x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2")


class HeaderRule:
    """Header names to remove, with exceptions; ``name*`` entries are prefixes."""

    def __init__(self, remove: str, allow: str):
        self.remove = _names(remove)
        self.allow = _names(allow)

    def removes(self, name: str) -> bool:
        """Whether the header ``name`` is removed."""
        name = name.lower()
        return _matches(name, self.remove) and not _matches(name, self.allow)


def _names(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    words = value.lower().split()
    return (tuple(w for w in words if not w.endswith("*")),
            tuple(w[:-1] for w in words if w.endswith("*")))


def _matches(name: str, names: tuple[tuple[str, ...], tuple[str, ...]]) -> bool:
    return name in names[0] or name.startswith(names[1])


def _allow_internal(req, acl=None, target=None, method=None) -> None:
    """The filter's own key lookups: allowed, as the owner (keys are owner headers)."""
    req.owner = True


def temp_url_keys(app, environ: dict, account: str, container: str) -> list[bytes]:
    """The account's then the container's temp URL keys (text names), read by ``HEAD``
    subrequests through ``app`` as the owner (also used by formpost)."""
    keys = []
    for path, names in ((f"/v1/{account}", ACCOUNT_KEYS),
                        (f"/v1/{account}/{container}", CONTAINER_KEYS)):
        base = {"REMOTE_USER": TEMPURL_USER, AUTHORIZE_KEY: _allow_internal,
                AUTHORIZE_OVERRIDE_KEY: True}
        base.update({k: environ[k] for k in ("eventlet.posthooks",) if k in environ})
        base[TRANS_ID_KEY] = ensure_trans_id(environ)
        resp = subrequest.call(app, subrequest.make_environ(
            base, "HEAD", subrequest.to_wsgi(path)))
        resp.close()
        if 200 <= resp.status < 300:
            keys += [resp.headers[n].encode("latin-1") for n in names
                     if resp.headers.get(n)]
    return keys


class TempURL:
    """The tempurl filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        opts = {name: conf.get(name, default) for name, default in DEFAULTS.items()}
        self.methods = tuple(m.upper() for m in opts["methods"].split())
        self.allowed_digests = frozenset(d for d in opts["allowed_digests"].split()
                                         if d in DIGESTS)
        self.incoming = HeaderRule(opts["incoming_remove_headers"],
                                   opts["incoming_allow_headers"])
        self.outgoing = HeaderRule(opts["outgoing_remove_headers"],
                                   opts["outgoing_allow_headers"])
        register_info("tempurl", {
            "methods": list(self.methods),
            "allowed_digests": sorted(self.allowed_digests),
            "incoming_remove_headers": opts["incoming_remove_headers"].split(),
            "incoming_allow_headers": opts["incoming_allow_headers"].split(),
            "outgoing_remove_headers": opts["outgoing_remove_headers"].split(),
            "outgoing_allow_headers": opts["outgoing_allow_headers"].split()})

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if "temp_url_" not in query or environ["REQUEST_METHOD"] == "OPTIONS":
            return self.app(environ, start_response)
        try:
            params = parse_query(query)
            if params is None:
                return self.app(environ, start_response)
            method = environ["REQUEST_METHOD"]
            target = self._target(environ, method)
            keys = temp_url_keys(self.app, environ, target[0], target[1])
            verify(params, method, *target, keys, allowed_digests=self.allowed_digests,
                   now=time.time(), remote_addr=environ.get("REMOTE_ADDR"))
        except TempURLInvalid:
            return self._invalid(environ, start_response)
        self._admit(environ, target)
        return self.app(environ, self._wrap(environ, start_response, params, target[2]))

    def _target(self, environ, method: str) -> tuple[str, str, str]:
        """``(account, container, object)`` a temp URL may open, as text."""
        if method not in self.methods:
            raise TempURLInvalid(f"{method} not allowed")
        try:
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            _version, account, container, obj = split_api_path(path)
        except (HTTPError, UnicodeError):
            raise TempURLInvalid("not an object path") from None
        if not container or not obj:
            raise TempURLInvalid("not an object path")
        return account, container, obj

    def _admit(self, environ, target: tuple[str, str, str]) -> None:
        """Let the request through as the temp URL user, allowed on ``target`` only."""

        def authorize(req, acl=None, target_of_check=None, method=None) -> None:
            if target_of_check is not None and tuple(target_of_check) != target:
                raise HTTPForbidden()  # a copy source, say: not what the URL opens

        environ["REMOTE_USER"] = TEMPURL_USER
        environ[AUTHORIZE_KEY] = authorize
        environ[AUTHORIZE_OVERRIDE_KEY] = True
        for key in [k for k in environ if k.startswith("HTTP_")]:
            if self.incoming.removes(key[5:].replace("_", "-")):
                del environ[key]

    def _wrap(self, environ, start_response, params, obj: str):
        method = environ["REQUEST_METHOD"]

        def tempurl_start_response(status, headers, exc_info=None):
            out = [(k, v) for k, v in headers if not self.outgoing.removes(k)]
            if method in ("GET", "HEAD") and status.startswith("2"):
                existing = [v for k, v in out if k.lower() == "content-disposition"]
                out = [(k, v) for k, v in out if k.lower() != "content-disposition"]
                if params.inline:
                    value = (content_disposition("inline", params.filename)
                             if params.filename else "inline")
                elif params.filename:
                    value = content_disposition("attachment", params.filename)
                elif existing:
                    value = existing[0]
                else:
                    value = content_disposition("attachment", posixpath.basename(obj))
                out.append(("Content-Disposition", value.replace("\n", "%0A")))
            return start_response(status, out, exc_info)

        return tempurl_start_response

    @staticmethod
    def _invalid(environ, start_response):
        body = b"401 Unauthorized: Temp URL invalid\n"
        account = (environ.get("PATH_INFO", "").split("/")[2:3] or [""])[0]
        account = account.encode("latin-1").decode("utf-8", "replace") or "unknown"
        start_response("401 Unauthorized", [
            ("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
            ("Www-Authenticate", www_authenticate(account)),
            ("X-Trans-Id", ensure_trans_id(environ))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#tempurl``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: TempURL(app, conf)
