"""What formpost decides apart from any I/O (sans-IO): the signature, the limits, the
names of the objects and the answer.

A form is signed with one of the temp URL keys (account or container, ``-Key-2`` too)
over ``<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>`` where
``path`` is the form's action path (``/v1/<account>/<container>[/<prefix>]``); the
``signature`` field is hex (its length names SHA-1, SHA-256 or SHA-512) or
``<digest>:<base64>``, as for temp URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import quote

from oiofs.proxy.middleware.tempurl_verify import DIGESTS, TempURLInvalid, parse_signature

#: longest value kept of a form field (longer ones are cut, as in Swift)
MAX_VALUE_LENGTH = 4096
#: characters left as they are in a redirect location (printable ASCII but space)
_URL_SAFE = "".join(chr(c) for c in range(33, 127))
#: the form fields that are signed or read, besides the files
ATTRIBUTES = ("redirect", "max_file_size", "max_file_count", "expires", "signature",
              "x_delete_at", "x_delete_after", "content-type")


class FormInvalid(Exception):
    """The form cannot be read (400 ``FormPost: <reason>``)."""


class FormRefused(Exception):
    """The form was read but may not store files: ``status`` line and ``message``."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def int_attribute(attributes: dict[str, str], name: str) -> int:
    """A numeric field (missing or empty: 0); ``FormInvalid`` if it is not an integer.

    >>> int_attribute({"max_file_size": "10"}, "max_file_size")
    10
    """
    value = attributes.get(name) or "0"
    try:
        return int(value)
    except ValueError:
        raise FormInvalid(f"{name} not an integer") from None


def hmac_body(path: str, attributes: dict[str, str]) -> bytes:
    """The signed message of a form posted to ``path`` (the request path, text)."""
    return "\n".join((path, attributes.get("redirect") or "",
                      attributes.get("max_file_size") or "0",
                      attributes.get("max_file_count") or "0",
                      attributes.get("expires") or "0")).encode("utf-8")


def check_signature(path: str, attributes: dict[str, str], keys: list[bytes], *,
                    allowed_digests: frozenset[str], now: float) -> None:
    """Return if the form is signed by one of ``keys`` and not expired, else raise
    :class:`FormRefused` (401 ``form expired`` / ``invalid signature``)."""
    if int_attribute(attributes, "expires") < now:
        raise FormRefused("401 Unauthorized", "form expired")
    try:
        digest, mac = parse_signature(attributes.get("signature") or "")
    except TempURLInvalid:
        raise FormRefused("401 Unauthorized", "invalid signature") from None
    if digest not in allowed_digests:
        raise FormRefused("401 Unauthorized", "invalid signature")
    message = hmac_body(path, attributes)
    found = False
    for key in keys:
        expected = hmac.new(key, message, DIGESTS[digest]).digest()
        found |= hmac.compare_digest(expected, mac)
    if not found:
        raise FormRefused("401 Unauthorized", "invalid signature")


def sign(key: bytes, path: str, redirect: str, max_file_size: int, max_file_count: int,
         expires: int, digest: str = "sha256") -> str:
    """The hex signature of a form (what a web application computes to make one).

    >>> len(sign(b"k", "/v1/a/c", "", 100, 1, 0))
    64
    """
    message = "\n".join((path, redirect, str(max_file_size), str(max_file_count),
                         str(expires))).encode("utf-8")
    return hmac.new(key, message, getattr(hashlib, digest)).hexdigest()


def object_path(path: str, filename: str) -> str:
    """Where a file goes: the form's path (a container gets a ``/``) plus its name.

    >>> object_path("/v1/a/c", "x.txt"), object_path("/v1/a/c/pre-", "x.txt")
    ('/v1/a/c/x.txt', '/v1/a/c/pre-x.txt')
    """
    if path.count("/") < 4 and not path.endswith("/"):
        path += "/"
    return path + (filename or "filename")


def answer(redirect: str | None, status: str, message: str
           ) -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status line, headers, body)`` of the form's answer: ``303`` to ``redirect``
    with ``status`` and ``message`` in its query, or ``status`` itself with a text body.

    >>> answer("https://x/done?a=1", "201 Created", "")[1][0]
    ('Location', 'https://x/done?a=1&status=201&message=')
    >>> answer("/ok\\r\\nX: y", "201 Created", "")[1][0]
    ('Location', '/ok%0D%0AX:%20y?status=201&message=')
    >>> answer(None, "400 Bad Request", "max file count exceeded")[2]
    b'400 Bad Request\\r\\nFormPost: Max File Count Exceeded'
    """
    if not redirect:
        text = status + ("\r\nFormPost: " + message.title() if message else "")
        body = text.encode("utf-8")
        return status, [("Content-Type", "text/plain"),
                        ("Content-Length", str(len(body)))], body
    code = status.split(" ", 1)[0]
    location = redirect + ("&" if "?" in redirect else "?") + \
        f"status={quote(code)}&message={quote(message)}"
    # a header value: non-ASCII, spaces and line breaks percent-encoded (no injection)
    location = quote(location, safe=_URL_SAFE)
    body = (f'<html><body><p><a href="{html.escape(location)}">Click to continue...'
            f"</a></p></body></html>").encode()
    return "303 See Other", [("Location", location), ("Content-Type", "text/html"),
                             ("Content-Length", str(len(body)))], body
