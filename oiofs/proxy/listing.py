"""Listing requests as the proxy sees them: format choice, limits, empty listings.

The account and container servers build the listings; the proxy checks the parameters it
must refuse itself and answers for accounts that do not exist yet (``account_autocreate``).
"""

from __future__ import annotations

from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

from oiofs.common import constraints
from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed

FORMATS = {"json": "application/json", "xml": "application/xml", "plain": "text/plain"}
_ACCEPT_TYPES = (("application/json", "json"), ("application/xml", "xml"),
                 ("text/xml", "xml"), ("text/plain", "plain"))


def listing_format(query: str, accept: str | None) -> str:
    """``json``, ``xml`` or ``plain``, from ``format=`` or else the ``Accept`` header."""
    if "format=" in query:
        for value in parse_qs(query).get("format", ()):
            value = value.lower()
            if value in FORMATS:
                return value
            for mime, fmt in _ACCEPT_TYPES:
                if value == mime:
                    return fmt
    if accept:
        best, best_q = "plain", -1.0
        for item in accept.split(","):
            mime, _, params = item.strip().partition(";")
            q = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    q = float(params[2:])
                except ValueError:
                    q = 0.0
            for known, fmt in _ACCEPT_TYPES:
                if mime.strip().lower() == known and q > best_q:
                    best, best_q = fmt, q
        return best
    return "plain"


def check_listing_query(query: str, max_limit: int) -> None:
    """Refuse what Swift refuses in the proxy: a limit above the maximum, bad UTF-8."""
    if not query:
        return
    try:
        params = parse_qs(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise HTTPBadRequest("Invalid UTF8 in query string") from None
    for name in ("prefix", "marker", "end_marker", "delimiter", "path"):
        for value in params.get(name, ()):
            if "\x00" in value:
                raise HTTPPreconditionFailed(f"Invalid {name}")
    for value in params.get("limit", ()):
        try:
            limit = int(value)
        except ValueError:
            raise HTTPPreconditionFailed("Value of limit must be a positive integer") \
                from None
        if limit < 0:
            raise HTTPPreconditionFailed("Value of limit must be a positive integer")
        if limit > max_limit:
            raise HTTPPreconditionFailed(f"Maximum limit is {max_limit}")
    for value in params.get("delimiter", ()):
        if len(value) > 1:
            raise HTTPPreconditionFailed("Bad delimiter")


def container_listing_limit() -> int:
    """The largest ``limit`` of a container listing (from the cluster constraints)."""
    return constraints.CONTAINER_LISTING_LIMIT


def account_listing_limit() -> int:
    """The largest ``limit`` of an account listing (from the cluster constraints)."""
    return constraints.ACCOUNT_LISTING_LIMIT


def empty_account_listing(account: str, fmt: str) -> tuple[int, bytes, str]:
    """``(status, body, content type)`` of the listing of an account not created yet."""
    if fmt == "json":
        return 200, b"[]", "application/json; charset=utf-8"
    if fmt == "xml":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<account name=%s></account>'
                % quoteattr(account)).encode("utf-8")
        return 200, body, "application/xml; charset=utf-8"
    return 204, b"", "text/plain; charset=utf-8"
