"""container_quotas: a container's ``X-Container-Meta-Quota-Bytes`` and ``-Quota-Count``.

A container owner sets (or removes, with an empty value or ``X-Remove-*``) the quotas as
metadata; a value that is not a non-negative integer is refused (400). An object write
into a container with a quota is refused ``413 Upload exceeds quota.`` before anything is
stored when the container's bytes plus the write's size (``Content-Length``, or the copy
source's size) pass ``quota-bytes``, or its object count plus one passes ``quota-count``.
A static large object's manifest counts with its total size (checked by the slo filter
once it knows it, :mod:`oiofs.proxy.middleware.quota`). The refusal comes after
authorization (a user who may not write gets 401/403, not 413), as in Swift.

Requests other than ``PUT``/``POST``/``COPY`` cost one comparison; object writes into a
container without quotas one lookup in the proxy's container info cache. Counts are read
fresh from the container servers only when a quota is set.
"""

from __future__ import annotations

from oiofs.common.exceptions import HTTPBadRequest, HTTPError, HTTPRequestEntityTooLarge
from oiofs.proxy.controllers.base import AUTHORIZE_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.infos import ProxyInfos
from oiofs.proxy.middleware.quota import (
    OVER_QUOTA,
    add_quota_check,
    container_has_quota,
    container_over_quota,
    valid_quota_value,
)
from oiofs.proxy.middleware.quota_write import Write, object_write, path_kind
from oiofs.proxy.middleware.subrequest import error_response

QUOTA_HEADERS = {"HTTP_X_CONTAINER_META_QUOTA_BYTES": "Invalid bytes quota.",
                 "HTTP_X_CONTAINER_META_QUOTA_COUNT": "Invalid count quota."}


def check_container_headers(environ: dict) -> None:
    """400 if a container ``PUT``/``POST`` sets a quota that is not a number."""
    for key, text in QUOTA_HEADERS.items():
        value = environ.get(key)
        if value is not None and not valid_quota_value(value):
            raise HTTPBadRequest(text)


def refuse_after_authorize(environ: dict, write: Write, err: HTTPError) -> bool:
    """Make the authorization of ``write``'s destination raise ``err`` once the auth
    filter has allowed it (so 401/403 win over 413). ``False`` without an auth filter:
    the caller refuses at once."""
    original = environ.get(AUTHORIZE_KEY)
    if original is None:
        return False
    destination = (write.account, write.container, write.obj)

    def authorize(req, acl=None, target=None, method=None):
        original(req, acl, target, method)
        own = (req.account, req.container, req.obj)
        if (tuple(target) if target is not None else own) == destination:
            raise err

    environ[AUTHORIZE_KEY] = authorize
    return True


class ContainerQuotas:
    """The container_quotas filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.infos = ProxyInfos(app)
        register_info("container_quotas", {})

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        if method not in ("PUT", "POST", "COPY"):
            return self.app(environ, start_response)
        kind = path_kind(environ.get("PATH_INFO", ""))
        try:
            if kind == "container" and method != "COPY":
                check_container_headers(environ)
            elif kind == "object" and method != "POST":
                self._check_write(environ)
        except HTTPError as err:
            return error_response(environ, start_response, err)
        return self.app(environ, start_response)

    def _check_write(self, environ: dict) -> None:
        write = object_write(self.app, environ)
        if write is None:
            return
        info = self.infos.container(environ, write.account, write.container)
        if not info.exists or not container_has_quota(info):
            return
        info = self.infos.container(environ, write.account, write.container, fresh=True)
        if write.manifest_put:
            def check(size: int) -> None:
                if container_over_quota(info, size):
                    raise HTTPRequestEntityTooLarge(OVER_QUOTA)
            add_quota_check(environ, check)
        elif container_over_quota(info, write.size):
            err = HTTPRequestEntityTooLarge(OVER_QUOTA)
            if not refuse_after_authorize(environ, write, err):
                raise err


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#container_quotas``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: ContainerQuotas(app, conf)
