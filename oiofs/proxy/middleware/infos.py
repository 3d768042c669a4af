"""Account and container information for filters, from the proxy's own short-lived cache.

Several filters (the quotas, staticweb, bulk) must know a container's metadata or stats
for requests that have nothing else to do with them. Asking the container servers each
time (a ``HEAD`` subrequest) would add a backend round trip to every object ``PUT``; Swift
answers from its memcached infos instead. oiofs filters use the proxy application's own
per-worker cache (``InfoCache``, invalidated across workers when a container or account
changes), found by walking the pipeline down to the application
(:func:`~oiofs.proxy.middleware.subrequest.proxy_app`) on first use. Containers come
with their counts and metadata (the application's ``cached_container_info`` gives the
same), accounts too, and either can be read fresh.

``fresh=True`` drops the cached entry first: the quotas use it once they know a quota is
set, so that a limit is enforced on the current counts, not on counts a few seconds old.
"""

from __future__ import annotations

from oiofs.proxy.container_info import AccountInfo, ContainerInfo
from oiofs.proxy.middleware.subrequest import proxy_app
from oiofs.proxy.request import ensure_trans_id


class _InfoRequest:
    """What the controllers' info lookups read of a request: its transaction id."""

    __slots__ = ("trans_id",)

    def __init__(self, trans_id: str):
        self.trans_id = trans_id


class ProxyInfos:
    """Cached container and account infos of the proxy behind a filter."""

    def __init__(self, app):
        self._app = app
        self._proxy = None

    @property
    def proxy(self):
        """The proxy application (looked up on first use: filters may be built before
        the pipeline is complete in unit tests)."""
        if self._proxy is None:
            self._proxy = proxy_app(self._app)
        return self._proxy

    def container(self, environ: dict, account: str, container: str,
                  fresh: bool = False) -> ContainerInfo:
        """The container's info (text names); ``fresh`` bypasses the cache."""
        proxy = self.proxy
        if fresh:
            proxy.container_cache.invalidate_local(f"{account}/{container}")
        return proxy.cached_container_info(environ, account, container)

    def account(self, environ: dict, account: str, fresh: bool = False) -> AccountInfo:
        """The account's info (text name); ``fresh`` bypasses the cache."""
        proxy = self.proxy
        if fresh:
            proxy.account_cache.invalidate_local(account)
        return proxy.account_controller.account_info(
            _InfoRequest(ensure_trans_id(environ)), account)
