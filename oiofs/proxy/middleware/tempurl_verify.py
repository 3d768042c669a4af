"""Temp URL verification, without I/O: what a temp URL's query says and whether it holds.

A temp URL carries ``temp_url_sig`` and ``temp_url_expires`` (and maybe
``temp_url_prefix``, ``temp_url_ip_range``, ``filename``, ``inline``) in its query. The
signature is an HMAC (SHA-1, SHA-256 or SHA-512) of
``[ip=<range>\\n]<METHOD>\\n<expires>\\n<path>``, where ``path`` is
``/v1/<account>/<container>/<object>`` or, for a prefix URL,
``prefix:/v1/<account>/<container>/<prefix>``, keyed with one of the account's or the
container's ``Temp-URL-Key``/``Temp-URL-Key-2``. The filter (``tempurl.py``) reads the
keys; everything else is decided here.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import ipaddress
import time
from urllib.parse import parse_qsl, quote

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
#: hex signature length -> digest
_HEX_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}
ISO8601_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: signatures that also open a HEAD request (Swift lets a GET, PUT or POST URL HEAD too)
_HEAD_METHODS = ("HEAD", "GET", "PUT", "POST")


class TempURLInvalid(Exception):
    """The request carries a temp URL that does not hold (answered 401)."""


class TempURLParams:
    """The temp URL parameters of one query string."""

    __slots__ = ("sig", "expires", "prefix", "ip_range", "filename", "inline")

    def __init__(self, sig: str, expires: int, prefix: str | None = None,
                 ip_range: str | None = None, filename: str | None = None,
                 inline: bool = False):
        self.sig = sig
        self.expires = expires
        self.prefix = prefix
        self.ip_range = ip_range
        self.filename = filename
        self.inline = inline


def parse_expires(value: str) -> int:
    """Epoch seconds of ``temp_url_expires``: an integer, or ISO 8601 UTC.

    >>> parse_expires("1700000000"), parse_expires("2023-11-14T22:13:20Z")
    (1700000000, 1700000000)
    """
    try:
        expires = int(value)
    except ValueError:
        try:
            expires = calendar.timegm(time.strptime(value, ISO8601_FORMAT))
        except ValueError:
            raise TempURLInvalid(f"bad temp_url_expires {value!r}") from None
    if expires < 0:
        raise TempURLInvalid("negative temp_url_expires")
    return expires


def parse_query(query: str) -> TempURLParams | None:
    """The temp URL in ``query`` (a raw QUERY_STRING); ``None`` if it has none.

    Raises :class:`TempURLInvalid` when one of ``temp_url_sig`` and ``temp_url_expires``
    is there without the other, or a value is malformed.
    """
    if "temp_url_" not in query:
        return None
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    sig, expires = values.get("temp_url_sig"), values.get("temp_url_expires")
    if sig is None and expires is None:
        return None
    if not sig or not expires:
        raise TempURLInvalid("temp_url_sig and temp_url_expires go together")
    return TempURLParams(sig, parse_expires(expires), values.get("temp_url_prefix"),
                         values.get("temp_url_ip_range") or None,
                         values.get("filename") or None, "inline" in values)


def parse_signature(sig: str) -> tuple[str, bytes]:
    """``(digest name, raw MAC)`` of a ``temp_url_sig``: hex (the length names the
    digest) or ``<digest>:<base64>`` (standard or URL-safe alphabet, padding optional).

    >>> parse_signature("sha512:" + "A" * 86)[0], parse_signature("ab" * 32)[0]
    ('sha512', 'sha256')
    """
    if ":" in sig:
        name, _, encoded = sig.partition(":")
        if name not in DIGESTS:
            raise TempURLInvalid(f"unknown digest {name!r}")
        encoded = encoded.replace("-", "+").replace("_", "/")
        try:
            mac = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise TempURLInvalid("bad base64 signature") from None
        if len(mac) != DIGESTS[name]().digest_size:
            raise TempURLInvalid("signature of the wrong length")
        return name, mac
    hex_name = _HEX_LENGTHS.get(len(sig))
    if hex_name is None:
        raise TempURLInvalid("signature of unknown length")
    try:
        return hex_name, bytes.fromhex(sig)
    except ValueError:
        raise TempURLInvalid("bad hex signature") from None


def signed_paths(account: str, container: str, obj: str, prefix: str | None) -> list[str]:
    """The paths a valid signature may cover: Swift signs the plain (unquoted) path; the
    percent-encoded form is accepted too, which is what signers given a URL path sign."""
    if prefix is not None:
        plain = f"prefix:/v1/{account}/{container}/{prefix}"
    else:
        plain = f"/v1/{account}/{container}/{obj}"
    quoted = quote(plain, safe="/:")
    return [plain] if quoted == plain else [plain, quoted]


def message(method: str, expires: int, path: str, ip_range: str | None) -> bytes:
    """The bytes a temp URL signature is the HMAC of."""
    text = f"{method}\n{expires}\n{path}"
    if ip_range:
        text = f"ip={ip_range}\n{text}"
    return text.encode("utf-8")


def ip_allowed(ip_range: str, remote_addr: str | None) -> bool:
    """Whether the client address is in ``ip_range`` (an address or a CIDR network)."""
    try:
        network = ipaddress.ip_network(ip_range, strict=False)
        return remote_addr is not None and ipaddress.ip_address(remote_addr) in network
    except ValueError:
        return False


def verify(params: TempURLParams, method: str, account: str, container: str, obj: str,
           keys: list[bytes], *, allowed_digests: frozenset[str], now: float,
           remote_addr: str | None) -> None:
    """Return if ``params`` allow ``method`` on the object, else raise
    :class:`TempURLInvalid`. ``keys`` are the account's and the container's keys."""
    if params.expires < now:
        raise TempURLInvalid("expired")
    if params.prefix is not None and not obj.startswith(params.prefix):
        raise TempURLInvalid("object outside the prefix")
    if params.ip_range and not ip_allowed(params.ip_range, remote_addr):
        raise TempURLInvalid("client address out of range")
    digest, mac = parse_signature(params.sig)
    if digest not in allowed_digests:
        raise TempURLInvalid(f"digest {digest} not allowed")
    methods = _HEAD_METHODS if method == "HEAD" else (method,)
    paths = signed_paths(account, container, obj, params.prefix)
    found = False
    for key in keys:
        for signed_method in methods:
            for path in paths:
                expected = hmac.new(key, message(signed_method, params.expires, path,
                                                 params.ip_range), DIGESTS[digest]).digest()
                found |= hmac.compare_digest(expected, mac)
    if not found:
        raise TempURLInvalid("signature does not match")


def content_disposition(kind: str, filename: str) -> str:
    """``<kind>; filename="..."; filename*=UTF-8''...`` with the name percent-encoded.

    >>> content_disposition("attachment", "a b.txt")
    'attachment; filename="a b.txt"; filename*=UTF-8\\'\\'a%20b.txt'
    """
    return (f'{kind}; filename="{quote(filename, safe=" /")}"; '
            f"filename*=UTF-8''{quote(filename)}")
