"""container_sync: the receiving side of container sync (``docs/container-sync.md``).

Requests from another cluster's container-sync daemon carry either
``X-Container-Sync-Auth: <realm> <nonce> <signature>`` (realm targets, signed as
:func:`oiofs.common.container_sync_realms.get_sig` says, with the realm's ``key`` or
``key2`` and the target container's ``X-Container-Sync-Key``) or, for full-URL targets,
``X-Container-Sync-Key`` itself on an object path. This filter checks them against the
target container's sync key (read with a ``HEAD`` subrequest):

* valid: the request goes on allowed (the auth filter leaves it alone), keeps the
  sender's ``X-Timestamp`` (the gatekeeper set it aside) so both clusters agree on what
  is newest (an older write is refused by the object servers: 202/409 as usual), and a
  synced SLO manifest keeps ``X-Static-Large-Object`` and its system metadata (stored as
  it is: its segments may arrive later);
* a wrong ``X-Container-Sync-Auth`` (no such realm, container without a sync key,
  wrong signature, stale: a nonce older than ``max_age`` seconds, default 3600), or a
  PUT/DELETE signed without ``X-Timestamp``: 401 ``X-Container-Sync-Auth header not
  valid``. A wrong ``X-Container-Sync-Key`` makes the request an ordinary one (as in
  Swift): the auth filter decides, and the sender's timestamp is not kept.

Options (``[filter:container_sync]``): ``allow_full_urls`` (true; false refuses full-URL
``X-Container-Sync-To`` values with 400 and ignores ``X-Container-Sync-Key``),
``current`` (``//REALM/CLUSTER`` of this cluster, marked in ``/info``), ``max_age``.
The realms come from ``container-sync-realms.conf`` in ``oiofs_dir``.
"""

from __future__ import annotations

import hmac
import os
from urllib.parse import quote

from oiofs.common.config import conf_bool, conf_float, oiofs_dir
from oiofs.common.container_sync_realms import (
    DEFAULT_MAX_AGE,
    REALMS_FILE,
    ContainerSyncRealms,
    nonce_age,
    signatures_match,
)
from oiofs.common.exceptions import HTTPError, InvalidTimestamp
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.controllers.base import (
    AUTHORIZE_KEY,
    AUTHORIZE_OVERRIDE_KEY,
    BACKEND_HEADERS_KEY,
    SYNC_TIMESTAMP_KEY,
)
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware import subrequest
from oiofs.proxy.middleware.gatekeeper import INBOUND_KEY
from oiofs.proxy.middleware.tempauth import www_authenticate
from oiofs.proxy.request import TRANS_ID_KEY, ensure_trans_id, split_api_path

#: REMOTE_USER of a verified sync request
SYNC_USER = ".wsgi.container_sync"
INVALID = b"X-Container-Sync-Auth header not valid; contact cluster operator for support."
_SYSMETA = "HTTP_X_OBJECT_SYSMETA_"


class SyncAuthInvalid(Exception):
    """Why a sync request is refused (logged, never told to the client)."""


def _allow_internal(req, acl=None, target=None, method=None) -> None:
    req.owner = True  # the sync key is an owner header


def _allow_sync(req, acl=None, target=None, method=None) -> None:
    """A verified sync request may write and read the container it was signed for."""


class ContainerSyncFilter:
    """The container_sync filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.realms = ContainerSyncRealms(os.path.join(oiofs_dir(conf), REALMS_FILE))
        self.allow_full_urls = conf_bool(conf, "allow_full_urls", True)
        self.max_age = conf_float(conf, "max_age", DEFAULT_MAX_AGE)
        self.current = [p.upper() for p in (conf.get("current") or "").strip("/").split("/")
                        if p]
        self.register()

    def register(self) -> None:
        """Publish the realms and their clusters in ``/info`` (names only, never keys)."""
        realms: dict[str, dict] = {}
        for name, realm in self.realms.realms().items():
            if realm.clusters:
                realms[name] = {"clusters": {c: {} for c in realm.clusters}}
        if len(self.current) == 2:
            cluster = realms.get(self.current[0], {}).get("clusters", {}).get(
                self.current[1])
            if cluster is not None:
                cluster["current"] = True
        register_info("container_sync", {"realms": realms})

    def __call__(self, environ, start_response):
        if not self.allow_full_urls:
            sync_to = environ.get("HTTP_X_CONTAINER_SYNC_TO", "").strip()
            if sync_to and not sync_to.startswith("//"):
                body = (b"Full URLs are not allowed for X-Container-Sync-To values. Only "
                        b"realm values of the format //realm/cluster/account/container "
                        b"are allowed.\n")
                start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                                   ("Content-Length", str(len(body)))])
                return [body]
        auth = environ.get("HTTP_X_CONTAINER_SYNC_AUTH")
        key = environ.get("HTTP_X_CONTAINER_SYNC_KEY")
        if auth is None and key is None:
            if environ.get("PATH_INFO") == "/info":
                self.register()  # the freshest realms
            return self.app(environ, start_response)
        try:
            account, container, obj = self._target(environ)
            if auth is None and not obj:
                # a container PUT/POST setting its own sync key: not a sync request
                return self.app(environ, start_response)
            self._verify(environ, auth, key, account, container)
        except SyncAuthInvalid as err:
            if auth is None:
                # as in Swift, a wrong X-Container-Sync-Key is no sync request: the
                # request goes on as any other (the auth filter decides)
                return self.app(environ, start_response)
            return self._refuse(environ, start_response, str(err))
        self._admit(environ)
        return self.app(environ, start_response)

    @staticmethod
    def _target(environ) -> tuple[str, str, str | None]:
        try:
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            _version, account, container, obj = split_api_path(path)
        except (HTTPError, UnicodeError):
            raise SyncAuthInvalid("not a container or object path") from None
        if not container:
            raise SyncAuthInvalid("not a container or object path")
        return account, container, obj

    def _sync_key(self, environ, account: str, container: str) -> str | None:
        base = {"REMOTE_USER": SYNC_USER, AUTHORIZE_KEY: _allow_internal,
                AUTHORIZE_OVERRIDE_KEY: True, TRANS_ID_KEY: ensure_trans_id(environ)}
        resp = subrequest.call(self.app, subrequest.make_environ(
            base, "HEAD", subrequest.to_wsgi(f"/v1/{account}/{container}")))
        resp.close()
        if not 200 <= resp.status < 300:
            return None
        return resp.headers.get("x-container-sync-key") or None

    def _verify(self, environ, auth: str | None, key: str | None, account: str,
                container: str) -> None:
        """Raise :class:`SyncAuthInvalid` unless the request is a valid sync request."""
        inbound = environ.get(INBOUND_KEY) or {}
        x_timestamp = inbound.get("HTTP_X_TIMESTAMP")
        if environ.get("REQUEST_METHOD") in ("PUT", "DELETE"):
            if not x_timestamp:
                raise SyncAuthInvalid("no X-Timestamp")
            try:
                Timestamp(x_timestamp)
            except InvalidTimestamp:
                raise SyncAuthInvalid("invalid X-Timestamp") from None
        if auth is not None:
            parts = auth.split()
            if len(parts) != 3:
                raise SyncAuthInvalid("not <realm> <nonce> <signature>")
            realm_name, nonce, signature = parts
            realm = self.realms.get(realm_name)
            if realm is None:
                raise SyncAuthInvalid(f"no local realm key for {realm_name!r}")
            age = nonce_age(nonce)
            if age is None or abs(age) > self.max_age:
                raise SyncAuthInvalid("stale or untimed nonce")
            user_key = self._sync_key(environ, account, container)
            if not user_key:
                raise SyncAuthInvalid("the container has no sync key")
            path = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8"))
            if not signatures_match(signature, environ["REQUEST_METHOD"], path,
                                    x_timestamp or "0", nonce, realm, user_key):
                raise SyncAuthInvalid("invalid signature")
            return
        if not self.allow_full_urls:
            raise SyncAuthInvalid("full-URL sync (X-Container-Sync-Key) is not allowed")
        user_key = self._sync_key(environ, account, container)
        if not user_key or key is None or not hmac.compare_digest(
                key.encode("utf-8"), user_key.encode("utf-8")):
            raise SyncAuthInvalid("wrong X-Container-Sync-Key")

    @staticmethod
    def _admit(environ) -> None:
        """Let a verified request through with the sender's timestamp and SLO headers."""
        environ["REMOTE_USER"] = SYNC_USER
        environ[AUTHORIZE_KEY] = _allow_sync
        environ[AUTHORIZE_OVERRIDE_KEY] = True
        inbound = environ.get(INBOUND_KEY) or {}
        if inbound.get("HTTP_X_TIMESTAMP"):
            environ[SYNC_TIMESTAMP_KEY] = Timestamp(inbound["HTTP_X_TIMESTAMP"]).internal
        if environ.get("REQUEST_METHOD") != "PUT":
            return
        backend = dict(environ.get(BACKEND_HEADERS_KEY) or {})
        slo = environ.pop("HTTP_X_STATIC_LARGE_OBJECT", None)
        if slo is not None:
            backend["X-Static-Large-Object"] = slo
        for name, value in inbound.items():
            if name.startswith(_SYSMETA):
                backend["X-Object-Sysmeta-" + name[len(_SYSMETA):].replace("_", "-")
                        .title()] = value
        if backend:
            environ[BACKEND_HEADERS_KEY] = backend

    def _refuse(self, environ, start_response, reason: str):
        account = (environ.get("PATH_INFO", "").split("/")[2:3] or [""])[0]
        account = account.encode("latin-1").decode("utf-8", "replace") or "unknown"
        log = environ.get("oiofs.log_info")
        if isinstance(log, list):
            log.append(f"cs:{reason}")
        start_response("401 Unauthorized", [
            ("Content-Type", "text/plain"), ("Content-Length", str(len(INVALID))),
            ("WWW-Authenticate",
             "SwiftContainerSync " + www_authenticate(account).split(None, 1)[1])])
        return [INVALID]


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#container_sync``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: ContainerSyncFilter(app, conf)
