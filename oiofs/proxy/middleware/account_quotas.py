"""account_quotas: byte quotas on an account, overall and per storage policy.

Only reseller admins (``environ[RESELLER_REQUEST_KEY]``, set by the auth filter) may set
them, with an account ``POST``/``PUT``:

* ``X-Account-Meta-Quota-Bytes: <n>`` (metadata, as in Swift; readable by the owner);
* ``X-Account-Quota-Bytes-Policy-<policy name>: <n>``, kept as system metadata
  ``X-Account-Sysmeta-Quota-Bytes-Policy-<policy index>`` and shown back on the account's
  ``HEAD``/``GET`` under the client's name.

An empty value or ``X-Remove-*`` removes one. Anyone else sending these headers to an
account gets 403; a value that is not a non-negative integer, or an unknown policy, 400.
An object write is then refused ``413 Upload exceeds quota.`` (after authorization)
when the account's bytes plus the write's size pass a quota; a static large object's
manifest counts with its total size. The account's byte count is updated by the
container servers' reports, so (as in Swift) it may lag behind recent writes.
"""

from __future__ import annotations

from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPError,
    HTTPForbidden,
    HTTPRequestEntityTooLarge,
)
from oiofs.common.storage_policy import POLICIES
from oiofs.proxy.controllers.base import BACKEND_HEADERS_KEY, RESELLER_REQUEST_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.container_quotas import refuse_after_authorize
from oiofs.proxy.middleware.infos import ProxyInfos
from oiofs.proxy.middleware.quota import (
    OVER_QUOTA,
    POLICY_QUOTA_SYSMETA,
    account_has_quota,
    account_over_quota,
    add_quota_check,
    parse_quota,
    valid_quota_value,
)
from oiofs.proxy.middleware.quota_write import object_write, path_kind
from oiofs.proxy.middleware.subrequest import error_response

_META = "HTTP_X_ACCOUNT_META_QUOTA_BYTES"
_REMOVE_META = "HTTP_X_REMOVE_ACCOUNT_META_QUOTA_BYTES"
_POLICY = "HTTP_X_ACCOUNT_QUOTA_BYTES_POLICY_"
_REMOVE_POLICY = "HTTP_X_REMOVE_ACCOUNT_QUOTA_BYTES_POLICY_"


def quota_settings(environ: dict) -> tuple[bool, dict[str, str]]:
    """``(asks, sysmeta)`` of an account write: whether it touches a quota, and the
    per-policy quotas it sets as backend headers (empty value: removed).

    ``HTTPBadRequest`` for a value that is not a number or an unknown policy.
    """
    asks = False
    sysmeta: dict[str, str] = {}
    for key, value in environ.items():
        if key in (_META, _REMOVE_META):
            asks = True
            if key == _META and not valid_quota_value(value):
                raise HTTPBadRequest("Invalid quota-bytes value.")
        elif key.startswith((_POLICY, _REMOVE_POLICY)):
            asks = True
            removing = key.startswith(_REMOVE_POLICY)
            name = key[len(_REMOVE_POLICY if removing else _POLICY):].replace("_", "-")
            policy = POLICIES.get_by_name(name)
            if policy is None:
                raise HTTPBadRequest(f"Invalid policy name {name}.")
            if not removing and not valid_quota_value(value):
                raise HTTPBadRequest(f"Invalid quota-bytes value for policy {name}.")
            sysmeta[f"X-Account-Sysmeta-{POLICY_QUOTA_SYSMETA.title()}{policy.idx}"] = \
                "" if removing else value.strip()
    return asks, sysmeta


def shown_policy_quotas(sysmeta: dict) -> list[tuple[str, str]]:
    """The per-policy quotas of an account's system metadata, as client headers."""
    out = []
    for key, value in sysmeta.items():
        if key.startswith(POLICY_QUOTA_SYSMETA) and parse_quota(value) is not None:
            policy = POLICIES.get_by_index(key[len(POLICY_QUOTA_SYSMETA):])
            if policy is not None:
                out.append((f"X-Account-Quota-Bytes-Policy-{policy.name}", value))
    return out


class AccountQuotas:
    """The account_quotas filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self.infos = ProxyInfos(app)
        register_info("account_quotas", {})

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        if method not in ("PUT", "POST", "COPY", "GET", "HEAD"):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if method in ("GET", "HEAD") and path.count("/") > 3:
            return self.app(environ, start_response)  # an object read: nothing to do
        kind = path_kind(path)
        is_account = kind == "account"
        if method in ("GET", "HEAD") and not is_account:
            return self.app(environ, start_response)
        try:
            if is_account and method in ("GET", "HEAD"):
                return self._show(environ, start_response)
            if is_account:
                self._check_settings(environ)
            elif kind == "object" and method != "POST":
                self._check_write(environ)
        except HTTPError as err:
            return error_response(environ, start_response, err)
        return self.app(environ, start_response)

    def _check_settings(self, environ: dict) -> None:
        asks, sysmeta = quota_settings(environ)
        if not asks:
            return
        if environ.get(RESELLER_REQUEST_KEY) is not True:
            raise HTTPForbidden()
        if sysmeta:
            headers = dict(environ.get(BACKEND_HEADERS_KEY) or {})
            headers.update(sysmeta)
            environ[BACKEND_HEADERS_KEY] = headers

    def _check_write(self, environ: dict) -> None:
        write = object_write(self.app, environ)
        if write is None:
            return
        info = self.infos.account(environ, write.account)
        if not info.exists or not account_has_quota(info):
            return
        info = self.infos.account(environ, write.account, fresh=True)
        container = self.infos.container(environ, write.account, write.container)
        policy = POLICIES.get_by_index(container.policy_index) if container.exists \
            else None
        index, name = (policy.idx, policy.name) if policy is not None else (None, None)
        if write.manifest_put:
            def check(size: int) -> None:
                if account_over_quota(info, size, index, name):
                    raise HTTPRequestEntityTooLarge(OVER_QUOTA)
            add_quota_check(environ, check)
        elif account_over_quota(info, write.size, index, name):
            err = HTTPRequestEntityTooLarge(OVER_QUOTA)
            if not refuse_after_authorize(environ, write, err):
                raise err

    def _show(self, environ, start_response):
        """An account ``GET``/``HEAD`` answer, with the per-policy quotas shown."""
        account = environ["PATH_INFO"].split("/")[2]  # path_kind said: /v1/<account>[/]

        def quotas_start_response(status, headers, exc_info=None):
            if status.startswith("2"):
                try:
                    text = account.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    text = None
                if text:
                    info = self.infos.account(environ, text)
                    headers = list(headers) + shown_policy_quotas(info.sysmeta)
            return start_response(status, headers, exc_info)

        return self.app(environ, quotas_start_response)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#account_quotas``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: AccountQuotas(app, conf)
