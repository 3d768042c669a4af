"""Container-sync realms, sync-to values and request signatures (sans-IO).

A *realm* is a group of clusters that trust one another to sync containers. The
operator lists them in ``container-sync-realms.conf`` (in ``oiofs_dir``)::

    [US]
    key = 9ff3b71c849749dbaec4ccdd3cbab62b
    key2 = 1a0a5a0cbd66448084089304442d6776      # optional, for key rotation
    cluster_dfw1 = http://dfw1.host/v1/
    cluster_ord1 = http://ord1.host/v1/

A container then says where it syncs to with ``X-Container-Sync-To:
//US/ord1/AUTH_account/container`` and the secret shared by both containers in
``X-Container-Sync-Key``. Every request the sender makes carries
``X-Container-Sync-Auth: <realm> <nonce> <signature>``, where the signature is the
HMAC-SHA1, keyed by the realm key, of the method, the quoted path, the request's
``X-Timestamp``, the nonce and the container sync key (:func:`get_sig`, the same
message as Swift's). The receiving proxy accepts ``key`` and ``key2``.

Differs from Swift: the nonce carries the time it was made (``<unix seconds>-<hex>``,
:func:`make_nonce`), so that the receiver refuses a signed request replayed later
than ``max_age`` seconds (:func:`nonce_age`). Swift's nonces are random only.

Full URLs (``http://host:port/v1/AUTH_a/c``) are the older form: accepted only when
the host is listed in the proxy's ``allowed_sync_hosts``; their requests carry the
container's ``X-Container-Sync-Key`` itself.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: the realms file's name in ``oiofs_dir``
REALMS_FILE = "container-sync-realms.conf"
#: signed requests older than this many seconds are refused by default
DEFAULT_MAX_AGE = 3600.0


class SyncToError(ValueError):
    """An ``X-Container-Sync-To`` value that cannot be accepted; the text says why."""


@dataclass(frozen=True)
class Realm:
    """One realm: its keys and its clusters' endpoints (names upper-cased)."""

    name: str
    key: str
    key2: str | None
    clusters: dict[str, str]


def parse_realms(text: str) -> dict[str, Realm]:
    """The realms of a realms file's text, by upper-cased name.

    Raises :class:`ValueError` naming the realm that has no ``key`` or a cluster
    endpoint that is not an http(s) URL.

    >>> realms = parse_realms("[us]\\nkey = k1\\ncluster_east = http://e/v1/\\n")
    >>> realms["US"].clusters
    {'EAST': 'http://e/v1/'}
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    realms: dict[str, Realm] = {}
    for section in parser.sections():
        items = dict(parser.items(section))
        key = items.get("key", "").strip()
        if not key:
            raise ValueError(f"realm {section!r} has no key")
        clusters: dict[str, str] = {}
        for option, value in items.items():
            if option.startswith("cluster_"):
                endpoint = value.strip()
                if urlsplit(endpoint).scheme not in ("http", "https"):
                    raise ValueError(f"realm {section!r}: {option} is not an http(s) URL")
                clusters[option[len("cluster_"):].upper()] = endpoint
        realms[section.upper()] = Realm(section.upper(), key,
                                        items.get("key2", "").strip() or None, clusters)
    return realms


class ContainerSyncRealms:
    """The realms file, read again whenever it changes (checked at most once a second).

    A missing file means no realms; an unreadable or invalid one keeps the last good
    realms (and :attr:`error` says why).
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self._clock = clock
        self._mtime: float | None = None
        self._checked = float("-inf")
        self._realms: dict[str, Realm] = {}
        self.error: str | None = None

    def _reload(self) -> None:
        now = self._clock()
        if now - self._checked < 1.0:
            return
        self._checked = now
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            self._realms, self._mtime = {}, None
            return
        except OSError as err:
            self.error = str(err)
            return
        if mtime == self._mtime:
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                self._realms = parse_realms(handle.read())
            self.error = None
        except (OSError, ValueError, configparser.Error) as err:
            self.error = f"{self.path}: {err}"
        self._mtime = mtime

    def realms(self) -> dict[str, Realm]:
        """Every realm, by upper-cased name."""
        self._reload()
        return self._realms

    def get(self, realm: str) -> Realm | None:
        """The realm called ``realm`` (any case), or ``None``."""
        return self.realms().get(realm.upper())

    def endpoint(self, realm: str, cluster: str) -> str | None:
        """The endpoint URL of a realm's cluster, or ``None``."""
        found = self.get(realm)
        return found.clusters.get(cluster.upper()) if found else None


def get_sig(method: str, path: str, x_timestamp: str, nonce: str, realm_key: str,
            user_key: str) -> str:
    """The ``X-Container-Sync-Auth`` signature: hex HMAC-SHA1, keyed by the realm key,
    of ``method``, ``path`` (quoted, as on the wire), ``x_timestamp``, ``nonce`` and the
    container sync key, joined by newlines.

    >>> get_sig("PUT", "/v1/a/c/o", "1.00000", "n", "rk", "uk")[:12]
    '6d0fef357b43'
    """
    message = "\n".join((method, path, x_timestamp, nonce, user_key)).encode("utf-8")
    return hmac.new(realm_key.encode("utf-8"), message, hashlib.sha1).hexdigest()


def make_nonce(now: float | None = None) -> str:
    """A fresh nonce that says when it was made: ``<unix seconds>-<16 random hex>``."""
    return f"{int(time.time() if now is None else now)}-{secrets.token_hex(8)}"


def nonce_age(nonce: str, now: float | None = None) -> float | None:
    """How old a nonce made by :func:`make_nonce` is (negative: from the future);
    ``None`` if it carries no time.

    >>> nonce_age("100-ab", now=160.0)
    60.0
    >>> nonce_age("f81d4fae7dec11d0a76500a0c91e6bf6") is None
    True
    """
    head, sep, _rest = nonce.partition("-")
    if not sep or not head.isdigit() or not head.isascii():
        return None
    return (time.time() if now is None else now) - int(head)


def signatures_match(signature: str, method: str, path: str, x_timestamp: str, nonce: str,
                     realm: Realm, user_key: str) -> bool:
    """True if ``signature`` was made with the realm's ``key`` or ``key2`` (compared in
    constant time)."""
    keys = [realm.key] + ([realm.key2] if realm.key2 else [])
    return any(hmac.compare_digest(signature.encode("utf-8"), get_sig(
        method, path, x_timestamp, nonce, key, user_key).encode("utf-8")) for key in keys)


@dataclass(frozen=True)
class SyncTarget:
    """Where a container syncs to: the remote container's URL, and the realm (``None``
    for a full-URL target, whose requests carry the sync key instead of a signature)."""

    url: str
    realm: Realm | None = None

    @property
    def path(self) -> str:
        """The URL's path (``/v1/<account>/<container>``)."""
        return urlsplit(self.url).path


def resolve_sync_to(value: str, realms: dict[str, Realm],
                    allowed_sync_hosts: Iterable[str] = ("127.0.0.1",),
                    allow_full_urls: bool = True) -> SyncTarget:
    """Check an ``X-Container-Sync-To`` value and say where it points.

    ``//realm/cluster/account/container`` must name a known realm and cluster; a full
    URL must be ``http``/``https`` with a path and a host in ``allowed_sync_hosts``.
    Raises :class:`SyncToError` with the reason otherwise.

    >>> realms = parse_realms("[r]\\nkey = k\\ncluster_b = http://127.0.0.1:8/v1/\\n")
    >>> resolve_sync_to("//r/b/AUTH_x/c2", realms).url
    'http://127.0.0.1:8/v1/AUTH_x/c2'
    >>> resolve_sync_to("//r/z/AUTH_x/c2", realms)
    Traceback (most recent call last):
    ...
    oiofs.common.container_sync_realms.SyncToError: No cluster endpoint for 'r' 'z'
    """
    value = value.strip()
    if value.startswith("//"):
        parts = value[2:].split("/")
        if len(parts) != 4 or not all(parts):
            raise SyncToError("Invalid X-Container-Sync-To format "
                              f"{value!r}: expected //realm/cluster/account/container")
        realm_name, cluster, account, container = parts
        realm = realms.get(realm_name.upper())
        if realm is None:
            raise SyncToError(f"No realm key for {realm_name!r}")
        endpoint = realm.clusters.get(cluster.upper())
        if endpoint is None:
            raise SyncToError(f"No cluster endpoint for {realm_name!r} {cluster!r}")
        return SyncTarget(f"{endpoint.rstrip('/')}/{account}/{container}", realm)
    if not allow_full_urls:
        raise SyncToError("Full URLs are not allowed for X-Container-Sync-To values. "
                          "Only realm values of the format "
                          "//realm/cluster/account/container are allowed.")
    try:
        url = urlsplit(value)
        host = url.hostname
    except ValueError:
        raise SyncToError(f"Invalid X-Container-Sync-To format {value!r}") from None
    if url.scheme not in ("http", "https"):
        raise SyncToError(f"Invalid scheme {url.scheme!r} in X-Container-Sync-To, must "
                          "be '//', 'http', or 'https'.")
    if not url.path or url.path.count("/") < 3 or url.query or url.fragment:
        raise SyncToError(f"Path required in X-Container-Sync-To: {value!r} "
                          "(http://host/v1/<account>/<container>, no query)")
    if host not in set(allowed_sync_hosts):
        raise SyncToError(f"Invalid host {host!r} in X-Container-Sync-To")
    return SyncTarget(value.rstrip("/"))
