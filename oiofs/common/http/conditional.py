"""Conditional requests (RFC 7232): what ``If-*`` headers make of a request.

:func:`evaluate_preconditions` applies ``If-Match``, ``If-Unmodified-Since``,
``If-None-Match`` and ``If-Modified-Since`` in the order of RFC 7232 section 6 and says
whether to go on, answer 304 or answer 412. :func:`if_range_allows` says whether a
``Range`` is to be honoured given an ``If-Range``. ``headers`` is anything with a
case-insensitive ``get`` (werkzeug's headers, or a dict with lower-case keys wrapped by
the caller).

An *existing* representation is described by its unquoted ETag and its ``Last-Modified``
time in whole epoch seconds; ``exists=False`` describes a missing one (then ``If-Match``
fails and ``If-None-Match: *`` passes).

>>> evaluate_preconditions({'If-None-Match': '"e"'}.get, 'GET', 'e', 100)
<Precondition.NOT_MODIFIED: 304>
>>> evaluate_preconditions({'If-Match': '"x"'}.get, 'GET', 'e', 100)
<Precondition.FAILED: 412>
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from oiofs.common.http.etag import etag_matches
from oiofs.common.timestamp import parse_http_date


class Precondition(enum.IntEnum):
    """The outcome of the preconditions: go on (0), 304 or 412."""

    PROCEED = 0
    NOT_MODIFIED = 304
    FAILED = 412


HeaderGetter = Callable[[str], "str | None"]


def evaluate_preconditions(get_header: HeaderGetter, method: str, etag: str | None,
                           last_modified: int | None, exists: bool = True) -> Precondition:
    """Evaluate the request's preconditions against the stored representation.

    ``get_header(name)`` returns a request header or ``None``. ``304`` only comes out of
    GET and HEAD; for other methods a matching ``If-None-Match`` fails with 412. Dates that
    cannot be parsed are ignored, as the RFC asks.
    """
    if_match = get_header("If-Match")
    if if_match is not None:
        if not exists or not etag_matches(if_match, etag, weak=False):
            return Precondition.FAILED
    elif exists and last_modified is not None:
        since = get_header("If-Unmodified-Since")
        if since is not None:
            when = parse_http_date(since)
            if when is not None and last_modified > when:
                return Precondition.FAILED
    read_only = method in ("GET", "HEAD")
    if_none_match = get_header("If-None-Match")
    if if_none_match is not None:
        if exists and etag_matches(if_none_match, etag, weak=True):
            return Precondition.NOT_MODIFIED if read_only else Precondition.FAILED
    elif read_only and exists and last_modified is not None:
        since = get_header("If-Modified-Since")
        if since is not None:
            when = parse_http_date(since)
            if when is not None and last_modified <= when:
                return Precondition.NOT_MODIFIED
    return Precondition.PROCEED


def if_range_allows(value: str | None, etag: str | None, last_modified: int | None) -> bool:
    """True if a ``Range`` may be honoured given the ``If-Range`` value (``None``: absent).

    An entity tag must match strongly (a weak tag never does); a date must equal
    ``Last-Modified`` exactly. Otherwise the whole body is to be sent.
    """
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/", "w/")):
        return etag is not None and etag_matches(value, etag, weak=False)
    when = parse_http_date(value)
    return when is not None and last_modified is not None and int(when) == last_modified
