"""Listing requests as the proxy sees them: format choice, limits, empty listings.

The account and container servers build the listings; the proxy checks the parameters it
must refuse itself and answers for accounts that do not exist yet (``account_autocreate``).
"""

from __future__ import annotations

from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

from oiofs.common.db.listing_format import QueryParams, parse_listing_params
from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed

FORMATS = {"json": "application/json", "xml": "application/xml", "plain": "text/plain"}
_ACCEPT_TYPES = (("application/json", "json"), ("application/xml", "xml"),
                 ("text/xml", "xml"), ("text/plain", "plain"))


def listing_format(query: str, accept: str | None) -> str:
    """``json``, ``xml`` or ``plain``, from ``format=`` or else the ``Accept`` header.

    A ``format`` given twice counts by its last value, as on the storage servers (and in
    Swift), so the proxy and the servers agree on the listing's format.
    """
    if "format=" in query:
        values = parse_qs(query).get("format")
        if values:
            value = values[-1].lower()
            if value in FORMATS:
                return value
            for mime, fmt in _ACCEPT_TYPES:
                if value == mime:
                    return fmt
            return "plain"
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
    """Refuse in the proxy what the storage servers would refuse, with the same rules
    (:func:`oiofs.common.db.listing_format.parse_listing_params`): a ``limit`` above ``max_limit``
    (412), bad UTF-8 (400); and a NUL in a name parameter (412)."""
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
    parse_listing_params(QueryParams(query), max_limit)


def empty_account_listing(account: str, fmt: str) -> tuple[int, bytes, str]:
    """``(status, body, content type)`` of the listing of an account not created yet."""
    if fmt == "json":
        return 200, b"[]", "application/json; charset=utf-8"
    if fmt == "xml":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<account name=%s></account>'
                % quoteattr(account)).encode("utf-8")
        return 200, body, "application/xml; charset=utf-8"
    return 204, b"", "text/plain; charset=utf-8"
