"""ratelimit: Swift's write rate limits per account and per container.

Configuration (``[filter:ratelimit]``, Swift's options and defaults)::

    account_ratelimit = 0          # container PUT/DELETE per account and second (0: none)
    container_ratelimit_<size> = <rate>          # object PUT/POST/DELETE/COPY per container
    container_listing_ratelimit_<size> = <rate>  # container GET per container
    account_whitelist =            # accounts never limited (comma separated)
    account_blacklist =            # accounts refused outright (497)
    max_sleep_time_seconds = 60    # a request that would wait longer is refused (498)
    log_sleep_time_seconds = 0     # log the requests that sleep longer (0: none)
    rate_buffer_seconds = 5        # credit an idle key may burst
    clock_accuracy = 1000

A container's rate depends on its size (object count, from the proxy's container-info
cache): with ``container_ratelimit_100 = 100`` and ``container_ratelimit_200 = 50``, a
container of 150 objects gets 75 writes a second (linear between two sizes, the last
rate above the last size, no limit below the first), as in Swift.

A request over its rate sleeps until its turn; one that would sleep more than
``max_sleep_time_seconds`` is answered ``498 Rate Limited`` ("Slow down"). The counts
are shared by all workers of the proxy (:mod:`oiofs.common.shared_rate`); with no limit
and no list configured the filter passes every request on untouched.
"""

from __future__ import annotations

from typing import Any

from oiofs.common import runtime
from oiofs.common.config import conf_float, conf_int
from oiofs.common.live_config import parse_non_negative
from oiofs.common.logger import get_logger
from oiofs.common.shared_rate import MaxSleepExceeded, SharedRateTable
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.subrequest import proxy_app, text_answer

WRITE_METHODS = frozenset(("PUT", "POST", "DELETE", "COPY"))
RatePoints = list[tuple[int, float]]


def rate_points(conf: dict, prefix: str) -> RatePoints:
    """``[(size, rate), ...]`` of the ``<prefix><size> = <rate>`` options, by size.

    >>> rate_points({"container_ratelimit_10": "5", "container_ratelimit_2": "9",
    ...              "container_ratelimit_x": "1"}, "container_ratelimit_")
    [(2, 9.0), (10, 5.0)]
    """
    points = []
    for name, value in conf.items():
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            rate = float(value)
            if rate > 0:
                points.append((int(name[len(prefix):]), rate))
    return sorted(points)


def max_rate(points: RatePoints, size: int) -> float | None:
    """The rate of a container of ``size`` objects, or ``None`` (no limit; an empty
    container is never limited, as in Swift).

    >>> pts = [(100, 100.0), (200, 50.0)]
    >>> max_rate(pts, 50), max_rate(pts, 100), max_rate(pts, 150), max_rate(pts, 900)
    (None, 100.0, 75.0, 50.0)
    """
    rate = None
    if not size:
        return None
    for i, (point_size, point_rate) in enumerate(points):
        if size < point_size:
            break
        rate = point_rate
        if i + 1 < len(points) and size < points[i + 1][0]:
            next_size, next_rate = points[i + 1]
            rate = point_rate + (next_rate - point_rate) * (size - point_size) / \
                (next_size - point_size)
    return rate


def _names(value: str) -> frozenset[str]:
    return frozenset(n.strip() for n in value.split(",") if n.strip())


class RateLimit:
    """The ratelimit filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        self._proxy: Any = None  # the proxy application, found on first use
        self.logger = get_logger(conf, "ratelimit")
        self.account_rate = conf_float(conf, "account_ratelimit", 0.0)
        self.container_points = rate_points(conf, "container_ratelimit_")
        self.listing_points = rate_points(conf, "container_listing_ratelimit_")
        self.whitelist = _names(conf.get("account_whitelist", ""))
        self.blacklist = _names(conf.get("account_blacklist", ""))
        self.max_sleep = conf_float(conf, "max_sleep_time_seconds", 60.0)
        self.log_sleep = conf_float(conf, "log_sleep_time_seconds", 0.0)
        self.table = SharedRateTable(
            clock_accuracy=conf_int(conf, "clock_accuracy", 1000, minimum=1),
            rate_buffer=conf_float(conf, "rate_buffer_seconds", 5.0),
            max_sleep=self.max_sleep)
        self.active = bool(self.account_rate > 0 or self.container_points or
                           self.listing_points or self.blacklist)
        register_info("ratelimit", {
            "account_ratelimit": self.account_rate,
            "max_sleep_time_seconds": self.max_sleep,
            "container_ratelimits": [list(p) for p in self.container_points],
            "container_listing_ratelimits": [list(p) for p in self.listing_points]})

    def register_live_settings(self, live) -> None:
        """Add ``account_ratelimit`` and ``max_sleep_time_seconds`` to the proxy's live
        settings (the ``admin`` filter calls this before the workers fork)."""
        def set_account_rate(value: float) -> None:
            self.account_rate = value
            self.active = bool(self.account_rate > 0 or self.container_points or
                               self.listing_points or self.blacklist)

        def set_max_sleep(value: float) -> None:
            self.max_sleep = self.table.max_sleep = value

        live.add("account_ratelimit", parse_non_negative, lambda: self.account_rate,
                 set_account_rate)
        live.add("max_sleep_time_seconds", parse_non_negative, lambda: self.max_sleep,
                 set_max_sleep)

    def __call__(self, environ, start_response):
        if not self.active:
            return self.app(environ, start_response)
        parts = environ.get("PATH_INFO", "").split("/", 4)
        if len(parts) < 3 or parts[0] or parts[1] not in ("v1", "v1.0") or not parts[2]:
            return self.app(environ, start_response)
        account = parts[2]
        if account in self.blacklist:
            return text_answer(environ, start_response, "497 Blacklisted",
                           b"Your account has been blacklisted")
        if account in self.whitelist:
            return self.app(environ, start_response)
        for key, rate in self._limits(environ, parts):
            try:
                need = self.table.sleep_time(key, rate)
            except MaxSleepExceeded as err:
                self.logger.error("Returning 498 for %s (%s) %s", environ["REQUEST_METHOD"],
                                  environ.get("PATH_INFO"), err)
                return text_answer(environ, start_response, "498 Rate Limited", b"Slow down")
            if self.log_sleep and need > self.log_sleep:
                self.logger.warning("Ratelimit sleep log: %s for %s", need, key)
            if need > 0:
                runtime.sleep(need)
        return self.app(environ, start_response)

    def _limits(self, environ, parts: list[str]) -> list[tuple[str, float]]:
        """``(key, rate)`` of each limit the request counts against."""
        method = environ["REQUEST_METHOD"]
        account = parts[2]
        container = parts[3] if len(parts) > 3 and parts[3] else None
        obj = parts[4] if len(parts) > 4 and parts[4] else None
        if container is None:
            return []
        if obj is None:
            if method in ("PUT", "DELETE") and self.account_rate > 0:
                return [(f"ratelimit/{account}", self.account_rate)]
            if method == "GET" and self.listing_points:
                rate = self._container_rate(environ, account, container,
                                            self.listing_points)
                if rate:
                    return [(f"ratelimit_listing/{account}/{container}", rate)]
            return []
        if method in WRITE_METHODS and self.container_points:
            rate = self._container_rate(environ, account, container, self.container_points)
            if rate:
                return [(f"ratelimit/{account}/{container}", rate)]
        return []

    def _container_rate(self, environ, account: str, container: str,
                        points: RatePoints) -> float | None:
        if self._proxy is None:
            self._proxy = proxy_app(self.app)
        info = self._proxy.cached_container_info(environ, account, container)
        if not info.exists:
            return None
        return max_rate(points, info.object_count)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#ratelimit``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: RateLimit(app, conf)
