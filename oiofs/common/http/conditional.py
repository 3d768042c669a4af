"""Conditional requests: what ``If-*`` headers make of a request, in Swift's order.

:func:`evaluate_preconditions` applies ``If-None-Match``, ``If-Match``,
``If-Modified-Since`` and ``If-Unmodified-Since`` in the order OpenStack Swift does and says
whether to go on, answer 304 or answer 412. Unlike RFC 7232 section 6, Swift evaluates the
date conditions even when the matching entity-tag condition is present and passed: an
``If-Match`` that matches does not excuse a failing ``If-Unmodified-Since`` (412), and an
``If-None-Match`` that does not match does not excuse an ``If-Modified-Since`` that says
"not modified" (304). Clients of Swift rely on this, so oiofs does the same.
:func:`if_range_allows` says whether a ``Range`` is to be honoured given an ``If-Range``.
``headers`` is anything with a case-insensitive ``get`` (werkzeug's headers, or a dict
with lower-case keys wrapped by the caller).

An *existing* representation is described by its unquoted ETag and its ``Last-Modified``
time in whole epoch seconds; ``exists=False`` describes a missing one (then only
``If-Match`` naming ``*`` fails; the caller answers 404 otherwise).

>>> evaluate_preconditions({'If-None-Match': '"e"'}.get, 'GET', 'e', 100)
<Precondition.NOT_MODIFIED: 304>
>>> evaluate_preconditions({'If-Match': '"x"'}.get, 'GET', 'e', 100)
<Precondition.FAILED: 412>
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from oiofs.common.http.etag import etag_matches, parse_etag_list
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

    ``get_header(name)`` returns a request header or ``None``. In order, the first that
    applies decides: ``If-None-Match`` matching (304; 412 for methods other than GET and
    HEAD), ``If-Match`` not matching (412), ``If-Modified-Since`` not before
    ``Last-Modified`` (304, GET and HEAD only), ``If-Unmodified-Since`` before it (412).
    Dates that cannot be parsed are ignored.
    """
    read_only = method in ("GET", "HEAD")
    if not exists:
        if_match = get_header("If-Match")
        if if_match is not None and _names_any(if_match):
            return Precondition.FAILED
        return Precondition.PROCEED
    if_none_match = get_header("If-None-Match")
    if if_none_match is not None and etag_matches(if_none_match, etag, weak=True):
        return Precondition.NOT_MODIFIED if read_only else Precondition.FAILED
    if_match = get_header("If-Match")
    if if_match is not None and not etag_matches(if_match, etag, weak=False):
        return Precondition.FAILED
    if last_modified is None:
        return Precondition.PROCEED
    if read_only:
        since = get_header("If-Modified-Since")
        when = parse_http_date(since) if since is not None else None
        if when is not None and last_modified <= when:
            return Precondition.NOT_MODIFIED
    since = get_header("If-Unmodified-Since")
    when = parse_http_date(since) if since is not None else None
    if when is not None and last_modified > when:
        return Precondition.FAILED
    return Precondition.PROCEED


def _names_any(value: str) -> bool:
    tags = parse_etag_list(value)
    if isinstance(tags, str):  # only ever ANY
        return True
    return any(opaque == "*" for opaque, _weak in tags)


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
