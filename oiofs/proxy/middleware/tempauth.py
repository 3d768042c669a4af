"""tempauth: users from the config file, signed tokens, and Swift's authorization rules.

Configuration (``[filter:tempauth]``)::

    user_<account>_<user> = <key> [.admin] [.reseller_admin] [<group>...] [<storage url>]
    token_life = 86400          # seconds a token is valid
    token_secret = <random>     # signs tokens; share it between proxies
    reseller_prefix = AUTH      # accounts are AUTH_<account>
    auth_prefix = /auth/
    storage_url_scheme = default   # or http/https to override the request's scheme

``GET /auth/v1.0`` (also ``/auth/v1.0/``, ``/v1.0``, ``/auth/v1/<account>/auth``) with
``X-Auth-User: account:user`` and ``X-Auth-Key`` (or ``X-Storage-User``/``X-Storage-Pass``)
answers 200 with ``X-Auth-Token``, ``X-Storage-Token``, ``X-Storage-Url`` and
``X-Auth-Token-Expires``. Tokens are signed and self-contained
(:mod:`oiofs.proxy.middleware.tokens`), so they work on every proxy worker.

Authorization (checked by the proxy controllers through ``environ['oiofs.authorize']``,
once they know the container's ACLs):

* a ``.reseller_admin`` may do anything to any account;
* an ``.admin`` user owns its account: everything but creating or deleting the account;
* other users of the account, other accounts and anonymous requests only get what the
  container's ``X-Container-Read``/``X-Container-Write`` ACLs grant them, or else the
  account's ``X-Account-Access-Control`` (``admin``: as the owner; ``read-write``: every
  container and object request and account reads; ``read-only``: ``GET``/``HEAD``);
* no token, or a bad or expired one: 401; a valid token without permission: 403.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from urllib.parse import quote

from oiofs.common.config import conf_int
from oiofs.common.exceptions import ConfigError, HTTPForbidden, HTTPUnauthorized
from oiofs.common.http.error_page import ERROR_CONTENT_TYPE, default_error_body
from oiofs.common.logger import get_logger
from oiofs.proxy.acl import account_acl_grant, parse_acl, referrer_allowed
from oiofs.proxy.controllers.base import (
    ACCOUNT_ACL_KEY,
    AUTHORIZE_KEY,
    AUTHORIZE_OVERRIDE_KEY,
    RESELLER_REQUEST_KEY,
)
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.tokens import TokenSigner
from oiofs.proxy.request import ensure_trans_id

MAX_CACHED_TOKENS = 10000


def www_authenticate(realm: str) -> str:
    """The ``WWW-Authenticate`` value naming ``realm`` (an account), percent-encoded as
    Swift does, so that no name (quotes, CR/LF, non-ASCII) can break out of the header."""
    return f'Swift realm="{quote(realm, safe="/")}"'


class User:
    """One configured user: key, groups, optional fixed storage URL."""

    __slots__ = ("account", "name", "key", "groups", "url", "remote_user")

    def __init__(self, account: str, name: str, key: str, groups: list[str],
                 url: str | None, reseller_prefix: str):
        self.account = account
        self.name = name
        self.key = key
        self.groups = groups
        self.url = url
        # What controllers see as REMOTE_USER: account, account:user, then the groups,
        # with .admin replaced by the account id it makes the user own.
        names = [account, f"{account}:{name}"]
        for group in groups:
            names.append(reseller_prefix + account if group == ".admin" else group)
        self.remote_user = ",".join(names)


def parse_users(conf: dict, reseller_prefix: str) -> dict[str, User]:
    """``{"account:user": User}`` from the ``user_<account>_<user>`` options."""
    users = {}
    for option, value in conf.items():
        if not option.startswith("user_"):
            continue
        account, sep, name = option[len("user_"):].partition("_")
        words = (value or "").split()
        if not sep or not account or not name or not words:
            raise ConfigError(f"tempauth: bad user line {option} = {value!r}")
        key, rest = words[0], words[1:]
        url = None
        if rest and "://" in rest[-1]:
            url = rest.pop()
        users[f"{account}:{name}"] = User(account, name, key, rest, url, reseller_prefix)
    return users


class TempAuth:
    """The tempauth filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.logger = get_logger(conf, "tempauth")
        prefix = (conf.get("reseller_prefix", "AUTH") or "").strip()
        self.reseller_prefix = prefix if not prefix or prefix.endswith("_") else prefix + "_"
        self.auth_prefix = conf.get("auth_prefix", "/auth/") or "/auth/"
        if not self.auth_prefix.startswith("/"):
            self.auth_prefix = "/" + self.auth_prefix
        if not self.auth_prefix.endswith("/"):
            self.auth_prefix += "/"
        self.token_life = conf_int(conf, "token_life", 86400, minimum=1)
        self.storage_url_scheme = conf.get("storage_url_scheme", "default") or "default"
        secret = conf.get("token_secret")
        if not secret:
            # Made before the workers fork, so all of them share it; tokens do not survive
            # a restart without a configured secret.
            secret = secrets.token_hex(32)
            self.logger.warning("tempauth: no token_secret set; tokens die with the proxy")
        self.signer = TokenSigner(secret, self.reseller_prefix)
        self.users = parse_users(conf, self.reseller_prefix)
        self._tokens: dict[str, tuple[str, int]] = {}
        register_info("tempauth", {"account_acls": True})

    # --- the pipeline -----------------------------------------------------------------

    def __call__(self, environ, start_response):
        environ.pop(RESELLER_REQUEST_KEY, None)  # only this filter says who is a reseller
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.auth_prefix) or path in ("/v1.0", "/v1.0/"):
            return self.handle_auth(environ, start_response)
        if environ.get(AUTHORIZE_OVERRIDE_KEY):
            return self.app(environ, start_response)  # tempurl vouched for the request
        token = environ.get("HTTP_X_AUTH_TOKEN") or environ.get("HTTP_X_STORAGE_TOKEN")
        if token:
            remote_user = self.user_of_token(token)
            if remote_user is not None:
                environ["REMOTE_USER"] = remote_user
                environ[AUTHORIZE_KEY] = self.authorize
                if ".reseller_admin" in remote_user.split(","):
                    environ[RESELLER_REQUEST_KEY] = True
            else:
                environ.pop("REMOTE_USER", None)
                environ[AUTHORIZE_KEY] = self.deny_bad_token
        else:
            environ.pop("REMOTE_USER", None)  # only a valid token names a user
            environ[AUTHORIZE_KEY] = self.authorize
        return self.app(environ, start_response)

    # --- tokens -----------------------------------------------------------------------

    def user_of_token(self, token: str, now: float | None = None) -> str | None:
        """The ``REMOTE_USER`` groups of a valid token, else ``None``."""
        now = time.time() if now is None else now
        cached = self._tokens.get(token)
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            del self._tokens[token]
            return None
        parsed = self.signer.parse(token)
        if parsed is None:
            return None
        user = self.users.get(parsed[0])
        if user is None or not self.signer.verify(token, user.key, now):
            return None
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            self._tokens.clear()
        self._tokens[token] = (user.remote_user, parsed[1])
        return user.remote_user

    def handle_auth(self, environ, start_response):
        """Answer a token request."""
        trans_id = ensure_trans_id(environ)
        status, headers, body = self._auth_answer(environ)
        headers.append(("X-Trans-Id", trans_id))
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _auth_answer(self, environ) -> tuple[str, list, bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return self._bad_request()
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.auth_prefix):
            path = "/" + path[len(self.auth_prefix):]
        segs = [s for s in path.split("/") if s]
        user_name = environ.get("HTTP_X_AUTH_USER") or environ.get("HTTP_X_STORAGE_USER")
        key = environ.get("HTTP_X_AUTH_KEY") or environ.get("HTTP_X_STORAGE_PASS")
        if segs in (["v1.0"], ["auth"], []):
            pass
        elif len(segs) == 3 and segs[0] == "v1" and segs[2] == "auth":
            if user_name and ":" not in user_name:
                user_name = f"{segs[1]}:{user_name}"
            elif user_name and user_name.split(":", 1)[0] != segs[1]:
                return self._unauthorized()
        else:
            return self._bad_request()
        if not user_name or not key:
            return self._unauthorized()
        user = self.users.get(user_name)
        if user is None or not hmac.compare_digest(user.key.encode("utf-8"),
                                                   key.encode("latin-1")):
            return self._unauthorized()
        expires = int(time.time() + self.token_life)
        token = self.signer.make(user_name, user.key, expires)
        url = user.url or self._storage_url(environ, user.account)
        body = json.dumps({"storage": {"default": "local", "local": url}}).encode()
        return "200 OK", [("X-Auth-Token", token), ("X-Storage-Token", token),
                          ("X-Storage-Url", url),
                          ("X-Auth-Token-Expires", str(max(0, expires - int(time.time())))),
                          ("Content-Type", "application/json; charset=utf-8")], body

    @staticmethod
    def _bad_request() -> tuple[str, list, bytes]:
        return "400 Bad Request", [("Content-Type", ERROR_CONTENT_TYPE)], \
            default_error_body(400)

    @staticmethod
    def _unauthorized() -> tuple[str, list, bytes]:
        return "401 Unauthorized", [("Content-Type", ERROR_CONTENT_TYPE),
                                    ("Www-Authenticate", www_authenticate("unknown"))], \
            default_error_body(401)

    def _storage_url(self, environ, account: str) -> str:
        scheme = self.storage_url_scheme
        if scheme == "default":
            scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST")
        if not host:
            host = f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT')}"
        return f"{scheme}://{host}/v1/{self.reseller_prefix}{account}"

    # --- authorization ----------------------------------------------------------------

    def deny(self, req) -> None:
        """401 for anonymous requests, 403 for users."""
        if req.remote_user:
            raise HTTPForbidden()
        raise HTTPUnauthorized(headers={"Www-Authenticate": www_authenticate(req.account)})

    def deny_bad_token(self, req, acl=None, target=None, method=None) -> None:
        """A token was given but is not valid (expired, forged, unknown user): 401."""
        raise HTTPUnauthorized(headers={"Www-Authenticate": www_authenticate(req.account)})

    def authorize(self, req, acl: str | None = None, target: tuple | None = None,
                  method: str | None = None) -> None:
        """Allow ``req`` (returns, maybe marking the owner) or raise 401/403."""
        account, container, obj = target or (req.account, req.container, req.obj)
        method = method or req.method
        prefix = self.reseller_prefix
        if not account.startswith(prefix):
            self.deny(req)
        groups = req.remote_user.split(",") if req.remote_user else []
        if ".reseller_admin" in groups and account != prefix and \
                not account[len(prefix):].startswith("."):
            req.owner = True
            return
        if account in groups and (method not in ("PUT", "DELETE") or container):
            req.owner = True
            return
        if method == "OPTIONS":
            return
        referrers, acl_groups = parse_acl(acl)
        if referrer_allowed(req.environ.get("HTTP_REFERER"), referrers) and \
                (obj or ".rlistings" in acl_groups):
            return
        if not groups:
            self.deny(req)
        for group in groups:
            if group in acl_groups:
                return
        account_acl = req.environ.get(ACCOUNT_ACL_KEY)
        if account_acl is not None:
            grant = account_acl_grant(account_acl(account), groups, container, method)
            if grant == "admin":
                req.owner = True
            if grant is not None:
                return
        self.deny(req)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#tempauth``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: TempAuth(app, conf)
