"""What the proxy needs to know about an account or container, read from backend headers.

Built from the answer to a ``HEAD`` (or a listing ``GET``) of the account or container
servers and cached for a few seconds by :class:`oiofs.proxy.info_cache.InfoCache`.
"""

from __future__ import annotations

from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.proxy.acl import ACCOUNT_ACL_SYSMETA, parse_account_acl
from oiofs.proxy.cors import CorsInfo

_CONTAINER_META = "x-container-meta-"
_CONTAINER_SYSMETA = "x-container-sysmeta-"
_ACCOUNT_META = "x-account-meta-"
_ACCOUNT_SYSMETA = "x-account-sysmeta-"
_POLICY_STATS = "x-account-storage-policy-"
_BYTES_USED = "-bytes-used"


def _int(headers: dict, key: str) -> int:
    try:
        return int(headers.get(key) or 0)
    except ValueError:
        return 0


class ContainerInfo:
    """A container's status (2xx exists, 404, 503 unknown), policy, ACLs, CORS, stats,
    and its system metadata (``sysmeta``: ``X-Container-Sysmeta-<name>`` as ``name``,
    lower case) for the filters that keep settings there."""

    __slots__ = ("status", "policy_index", "read_acl", "write_acl", "object_count",
                 "bytes_used", "meta", "cors", "sysmeta", "sync_key")

    def __init__(self, status: int, policy_index: int = 0, read_acl: str | None = None,
                 write_acl: str | None = None, object_count: int = 0, bytes_used: int = 0,
                 meta: dict | None = None, sysmeta: dict | None = None,
                 sync_key: str | None = None):
        self.status = status
        self.policy_index = policy_index
        #: the container's ``X-Container-Sync-Key`` (checked by the container_sync filter)
        self.sync_key = sync_key
        self.read_acl = read_acl
        self.write_acl = write_acl
        self.object_count = object_count
        self.bytes_used = bytes_used
        self.meta = meta or {}
        self.cors = CorsInfo.from_meta(self.meta) if self.meta else None
        self.sysmeta = sysmeta or {}

    @property
    def exists(self) -> bool:
        """True if the container was found."""
        return 200 <= self.status < 300

    @classmethod
    def from_headers(cls, status: int, headers: dict) -> ContainerInfo:
        """From a container server's answer (``headers`` with lower-case keys)."""
        if not 200 <= status < 300:
            return cls(status)
        meta = {k[len(_CONTAINER_META):]: v for k, v in headers.items()
                if k.startswith(_CONTAINER_META)}
        sysmeta = {k[len(_CONTAINER_SYSMETA):]: v for k, v in headers.items()
                   if k.startswith(_CONTAINER_SYSMETA)}
        return cls(status, _int(headers, POLICY_INDEX_HEADER.lower()),
                   headers.get("x-container-read"), headers.get("x-container-write"),
                   _int(headers, "x-container-object-count"),
                   _int(headers, "x-container-bytes-used"), meta, sysmeta,
                   headers.get("x-container-sync-key") or None)


class AccountInfo:
    """An account's status, counts, metadata, system metadata (``sysmeta``, names
    without their prefix), bytes used per storage policy (``policy_bytes``, by lower-case
    policy name) and account ACL (``None`` if it has none)."""

    __slots__ = ("status", "container_count", "object_count", "bytes_used", "meta", "acl",
                 "sysmeta", "policy_bytes")

    def __init__(self, status: int, container_count: int = 0, object_count: int = 0,
                 bytes_used: int = 0, meta: dict | None = None,
                 acl: dict[str, list[str]] | None = None, sysmeta: dict | None = None,
                 policy_bytes: dict | None = None):
        self.status = status
        self.container_count = container_count
        self.object_count = object_count
        self.bytes_used = bytes_used
        self.meta = meta or {}
        self.acl = acl
        self.sysmeta = sysmeta or {}
        self.policy_bytes = policy_bytes or {}

    @property
    def exists(self) -> bool:
        """True if the account was found."""
        return 200 <= self.status < 300

    @classmethod
    def from_headers(cls, status: int, headers: dict) -> AccountInfo:
        """From an account server's answer (``headers`` with lower-case keys)."""
        if not 200 <= status < 300:
            return cls(status)
        meta = {k[len(_ACCOUNT_META):]: v for k, v in headers.items()
                if k.startswith(_ACCOUNT_META)}
        sysmeta = {k[len(_ACCOUNT_SYSMETA):]: v for k, v in headers.items()
                   if k.startswith(_ACCOUNT_SYSMETA)}
        policy_bytes = {k[len(_POLICY_STATS):-len(_BYTES_USED)]: _int(headers, k)
                        for k in headers
                        if k.startswith(_POLICY_STATS) and k.endswith(_BYTES_USED)}
        return cls(status, _int(headers, "x-account-container-count"),
                   _int(headers, "x-account-object-count"),
                   _int(headers, "x-account-bytes-used"), meta,
                   parse_account_acl(headers.get(ACCOUNT_ACL_SYSMETA.lower())),
                   sysmeta, policy_bytes)
