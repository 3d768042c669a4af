"""Temporary URL signatures, as Swift's ``tempurl`` middleware defines them.

A temp URL lets someone without a token ``GET`` (or ``PUT``, ``HEAD``...) one object (or
every object under a prefix) until a time. The signature is an HMAC of
``[ip=<range>\\n]<METHOD>\\n<expires>\\n<path>`` keyed with the account's (or container's)
``Temp-URL-Key`` metadata; ``path`` is the quoted ``/v1/<account>/<container>/<object>``,
or ``prefix:/v1/<account>/<container>/<prefix>`` for a prefix URL.

The oiofs cluster verifies them with its ``tempurl`` filter (docs/middleware.md); the
proxy does not import this module (layers point downward): its own verification is
``oiofs.proxy.middleware.tempurl_verify``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})


def temp_url_signature(key: str | bytes, method: str, expires: int, path: str,
                       digest: str = "sha256", ip_range: str | None = None) -> str:
    """The ``temp_url_sig`` value for ``method`` on ``path`` until ``expires`` (epoch s).

    ``sha1`` and ``sha256`` signatures are hex digests; ``sha512`` ones are written
    ``sha512:<base64url, unpadded>`` as Swift expects. ``path`` is used as given (quoted,
    ``prefix:`` included for prefix URLs).
    """
    if digest not in DIGESTS:
        raise ValueError(f"digest must be one of {sorted(DIGESTS)}")
    if method.upper() not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}")
    key = key.encode("utf-8") if isinstance(key, str) else key
    message = f"{method.upper()}\n{int(expires)}\n{path}"
    if ip_range:
        message = f"ip={ip_range}\n{message}"
    mac = hmac.new(key, message.encode("utf-8"), DIGESTS[digest])
    if digest == "sha512":
        return "sha512:" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
    return mac.hexdigest()


def generate_temp_url(url_or_path: str, key: str | bytes, seconds: int | None = None, *,
                      method: str = "GET", expires: int | None = None,
                      digest: str = "sha256", prefix: bool = False,
                      ip_range: str | None = None, filename: str | None = None,
                      now: float | None = None) -> str:
    """A temp URL for ``url_or_path`` (``http://h/v1/a/c/o`` or ``/v1/a/c/o``).

    Give ``seconds`` (valid from now) or an absolute ``expires`` (epoch seconds). With
    ``prefix`` the path is ``/v1/a/c/<prefix>`` and the URL works for every object under
    it. The answer is the URL (or path) with ``temp_url_sig``, ``temp_url_expires`` (and
    ``temp_url_prefix``, ``temp_url_ip_range``, ``filename``) appended.
    """
    if expires is None:
        if seconds is None:
            raise ValueError("give seconds or expires")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        expires = int((time.time() if now is None else now) + seconds)
    elif seconds is not None:
        raise ValueError("give seconds or expires, not both")
    parts = urlsplit(url_or_path)
    path = parts.path
    segments = path.split("/")
    if len(segments) < 4 or segments[1] != "v1" or not segments[2] or not segments[3] \
            or (not prefix and (len(segments) < 5 or not "/".join(segments[4:]))):
        raise ValueError(f"{path!r} is not /v1/<account>/<container>/<object>"
                         + (" (or a prefix)" if prefix else ""))
    signed = "prefix:" + path if prefix else path
    sig = temp_url_signature(key, method, expires, signed, digest, ip_range)
    query = f"temp_url_sig={quote(sig, safe='')}&temp_url_expires={int(expires)}"
    if prefix:
        query += "&temp_url_prefix=" + quote("/".join(segments[4:]), safe="")
    if ip_range:
        query += "&temp_url_ip_range=" + quote(ip_range, safe="")
    if filename:
        query += "&filename=" + quote(filename, safe="")
    base = url_or_path.split("?", 1)[0]
    return f"{base}?{query}"
