"""``RedisConnection``: one Redis (or a Sentinel-managed master) and its Lua scripts.

Options (``docs/account-service.md``):

* ``redis_url`` (``redis://127.0.0.1:6379/0``): the server, as redis-py reads URLs
  (``redis://[:password@]host:port/db`` or ``unix:///path?db=0``);
* ``sentinel_hosts`` (empty): ``host:port`` of the sentinels, comma-separated; when set,
  the master named ``sentinel_name`` (``oiofs``) is asked of them and ``redis_url`` only
  gives the password and database number;
* ``redis_socket_timeout`` (5 s) and ``redis_connect_timeout`` (2 s);
* ``redis_max_connections`` (64): the size of the connection pool.

Scripts registered with :meth:`RedisConnection.register_script` are sent once
(``SCRIPT LOAD``) and run with ``EVALSHA``; a Redis that forgot them (restart,
``SCRIPT FLUSH``) answers ``NOSCRIPT`` and they are loaded again. A Redis that cannot be
reached raises :class:`RedisUnavailable`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import redis
from redis.commands.core import Script
from redis.sentinel import Sentinel

from oiofs.common.config import conf_float, conf_int, conf_list
from oiofs.common.exceptions import ConfigError, OiofsError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

P = ParamSpec("P")
R = TypeVar("R")


class RedisUnavailable(OiofsError):
    """Redis could not be reached (or timed out, or is read-only / loading)."""


def _parse_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"invalid sentinel address {value!r}: expected host:port")
    return host.strip("[]"), int(port)


def translate_redis_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: redis-py's connection-level errors become :class:`RedisUnavailable`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError,
                redis.ReadOnlyError) as err:
            raise RedisUnavailable(f"Redis unreachable: {err}") from err

    return wrapper


class RedisConnection:
    """A pooled client of the configured Redis, or of the master its sentinels name."""

    sentinel: Sentinel | None
    client: redis.Redis

    def __init__(self, conf: dict[str, Any]):
        url = conf.get("redis_url") or DEFAULT_REDIS_URL
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"redis_url {url!r}: scheme must be redis, rediss or unix")
        self.socket_timeout = conf_float(conf, "redis_socket_timeout", 5.0)
        self.connect_timeout = conf_float(conf, "redis_connect_timeout", 2.0)
        max_connections = conf_int(conf, "redis_max_connections", 64, minimum=1)
        sentinels = [_parse_host_port(h) for h in conf_list(conf, "sentinel_hosts")]
        self.sentinel_name = conf.get("sentinel_name", "oiofs")
        self.url = url
        if sentinels:
            db = int(parts.path.lstrip("/") or 0) if parts.scheme != "unix" else 0
            self.sentinel = Sentinel(sentinels, socket_timeout=self.socket_timeout,
                                     socket_connect_timeout=self.connect_timeout)
            self.client = self.sentinel.master_for(
                self.sentinel_name, db=db, password=parts.password,
                decode_responses=True, socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.connect_timeout,
                max_connections=max_connections)
        else:
            self.sentinel = None
            pool = redis.ConnectionPool.from_url(
                url, decode_responses=True, socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.connect_timeout, max_connections=max_connections)
            self.client = redis.Redis(connection_pool=pool)

    def register_script(self, source: str) -> Script:
        """A callable ``script(keys=[...], args=[...], client=None)`` run by ``EVALSHA``."""
        return self.client.register_script(source)

    @translate_redis_errors
    def ping(self) -> bool:
        """True if Redis answers (raises :class:`RedisUnavailable` otherwise)."""
        return bool(self.client.ping())

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()
