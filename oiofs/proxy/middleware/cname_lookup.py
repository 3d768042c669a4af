"""cname_lookup: customer domains pointed at the cluster by a DNS ``CNAME``.

A customer publishes ``www.customer.org CNAME c.auth-test.example.com``; a request with
``Host: www.customer.org`` then has its host replaced by ``c.auth-test.example.com``
(the port kept), which domain_remap (after this filter) turns into
``/v1/AUTH_test/c/...``. Up to ``lookup_depth`` CNAMEs are followed until a name below a
storage domain is reached.

Configuration (``[filter:cname_lookup]``), Swift's options::

    storage_domain = example.com      # several, comma-separated
    lookup_depth = 1
    nameservers =                     # ip[:port], comma-separated; empty: the system's
    cache_time = 60                   # seconds a lookup (found or not) is remembered

Hosts below a storage domain, IP addresses and hosts without a dot are never looked up.
Differs from Swift: a host whose lookup finds no such CNAME is passed on unchanged (the
request is served by its path, as without the filter) instead of answering 400; results,
negative ones included, are cached per worker for ``cache_time``.

Not in the default pipeline: it sends a DNS query for every new ``Host`` a client names,
to the configured resolvers (see ``docs/middleware.md``).
"""

from __future__ import annotations

import ipaddress
import time

import dns.exception
import dns.resolver

from oiofs.common.config import conf_int
from oiofs.proxy.controllers.info import register_info

MAX_CACHED = 10000


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def split_host(host: str) -> tuple[str, str]:
    """``(name, ":port" or "")`` of a ``Host`` header.

    >>> split_host("www.a.org:8080"), split_host("[::1]:80"), split_host("a.org")
    (('www.a.org', ':8080'), ('[::1]', ':80'), ('a.org', ''))
    """
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1], host[end + 1:]
    name, sep, port = host.rpartition(":")
    return (name, sep + port) if sep and port.isdigit() else (host, "")


class CnameLookup:
    """The cname_lookup filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        domains = conf.get("storage_domain") or "example.com"
        self.domains = tuple("." + d.strip().lower().strip(".")
                             for d in domains.split(",") if d.strip())
        self.depth = conf_int(conf, "lookup_depth", 1, 1)
        self.cache_time = conf_int(conf, "cache_time", 60, 0)
        servers = [s.strip() for s in (conf.get("nameservers") or "").split(",")
                   if s.strip()]
        if servers:
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [split_host(s)[0].strip("[]") for s in servers]
            ports = {split_host(s)[1][1:] for s in servers if split_host(s)[1]}
            if ports:
                self.resolver.port = int(ports.pop())
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = 2.0
        self._cache: dict[str, tuple[float, str | None]] = {}
        register_info("cname_lookup", {"lookup_depth": self.depth})

    def under_storage(self, name: str) -> bool:
        """Whether ``name`` is a storage domain or below one."""
        name = "." + name.lower().rstrip(".")
        return name.endswith(self.domains) or name in self.domains

    def cname(self, name: str) -> str | None:
        """The target of ``name``'s CNAME record (cached), or ``None``."""
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            answer = self.resolver.resolve(name, "CNAME")
            target: str | None = answer[0].target.to_text(omit_final_dot=True)
        except (dns.exception.DNSException, IndexError):
            target = None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[name] = (now + self.cache_time, target)
        return target

    def resolve(self, name: str) -> str | None:
        """The storage-domain name ``name`` leads to within ``lookup_depth`` CNAMEs."""
        for _ in range(self.depth):
            target = self.cname(name)
            if target is None or target == name:
                return None
            if self.under_storage(target):
                return target
            name = target
        return None

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host:
            name, port = split_host(host)
            if "." in name and not _is_ip(name) and not self.under_storage(name):
                found = self.resolve(name.lower().rstrip("."))
                if found is not None:
                    environ["HTTP_HOST"] = found + port
        return self.app(environ, start_response)


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#cname_lookup``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: CnameLookup(app, conf)
