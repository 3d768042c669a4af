"""Names to hashes: the keyed MD5 of ``/account/container/object`` that places everything.

The cluster secret (``swift_hash_path_prefix``/``suffix`` style, here ``hash_path_prefix``
and ``hash_path_suffix`` in the ``[hash]`` section of ``oiofs.conf``) keeps placement
unpredictable to clients. Every node of a cluster must use the same secret, or nothing is
found again; :func:`set_hash_path_secret` is called by :mod:`oiofs.common.cluster_config` when the
cluster configuration is loaded.
"""

from __future__ import annotations

import hashlib
from typing import Literal, overload
from urllib.parse import quote

_HASH_PREFIX = b""
_HASH_SUFFIX = b""


def set_hash_path_secret(prefix: str | bytes, suffix: str | bytes) -> None:
    """Set the cluster-wide secret mixed into every path hash."""
    global _HASH_PREFIX, _HASH_SUFFIX
    _HASH_PREFIX = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
    _HASH_SUFFIX = suffix.encode("utf-8") if isinstance(suffix, str) else bytes(suffix)


def get_hash_path_secret() -> tuple[bytes, bytes]:
    """The secret currently in use, as ``(prefix, suffix)``."""
    return _HASH_PREFIX, _HASH_SUFFIX


def _encode(part: str | bytes) -> bytes:
    return part.encode("utf-8") if isinstance(part, str) else part


@overload
def hash_path(account: str, container: str | None = None, obj: str | None = None, *,
              raw_digest: Literal[False] = False) -> str: ...


@overload
def hash_path(account: str, container: str | None = None, obj: str | None = None, *,
              raw_digest: Literal[True]) -> bytes: ...


def hash_path(account: str, container: str | None = None, obj: str | None = None, *,
              raw_digest: bool = False) -> str | bytes:
    """The keyed MD5 of ``/account[/container[/object]]`` as hex (or 16 raw bytes).

    An object needs its container: ``hash_path('a', obj='o')`` raises ``ValueError``.
    """
    if obj and not container:
        raise ValueError("an object hash needs a container")
    parts = [_encode(account)]
    if container:
        parts.append(_encode(container))
    if obj:
        parts.append(_encode(obj))
    digest = hashlib.md5(_HASH_PREFIX + b"/" + b"/".join(parts) + _HASH_SUFFIX,
                         usedforsecurity=False)
    return digest.digest() if raw_digest else digest.hexdigest()


def md5(data: bytes = b"") -> hashlib._Hash:
    """An MD5 hasher for checksums (not for security)."""
    return hashlib.md5(data, usedforsecurity=False)


def quote_path(path: str) -> str:
    """Percent-encode a path for an HTTP request line, keeping ``/``."""
    return quote(path, safe="/")
