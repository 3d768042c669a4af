"""Limits on names, metadata and sizes, and the checks that enforce them.

The defaults match what Swift clients expect; an operator may change them in the
``[constraints]`` section of ``oiofs.conf`` (see :func:`load_constraints`). Every check
raises an :class:`~oiofs.common.exceptions.HTTPError` subclass with a short text, so a bad
request becomes a clear 4xx wherever it is detected.
"""

from __future__ import annotations

from urllib.parse import unquote

from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPLengthRequired,
    HTTPNotImplemented,
    HTTPRequestEntityTooLarge,
    InvalidTimestamp,
)
from oiofs.common.timestamp import Timestamp

DEFAULT_CONSTRAINTS = {
    "max_file_size": 5 * 1024 ** 3 + 2,
    "max_meta_name_length": 128,
    "max_meta_value_length": 256,
    "max_meta_count": 90,
    "max_meta_overall_size": 4096,
    "max_header_size": 8192,
    "max_object_name_length": 1024,
    "container_listing_limit": 10000,
    "account_listing_limit": 10000,
    "max_account_name_length": 256,
    "max_container_name_length": 256,
    "extra_header_count": 0,
}

MAX_FILE_SIZE = DEFAULT_CONSTRAINTS["max_file_size"]
MAX_META_NAME_LENGTH = DEFAULT_CONSTRAINTS["max_meta_name_length"]
MAX_META_VALUE_LENGTH = DEFAULT_CONSTRAINTS["max_meta_value_length"]
MAX_META_COUNT = DEFAULT_CONSTRAINTS["max_meta_count"]
MAX_META_OVERALL_SIZE = DEFAULT_CONSTRAINTS["max_meta_overall_size"]
MAX_HEADER_SIZE = DEFAULT_CONSTRAINTS["max_header_size"]
MAX_OBJECT_NAME_LENGTH = DEFAULT_CONSTRAINTS["max_object_name_length"]
CONTAINER_LISTING_LIMIT = DEFAULT_CONSTRAINTS["container_listing_limit"]
ACCOUNT_LISTING_LIMIT = DEFAULT_CONSTRAINTS["account_listing_limit"]
MAX_ACCOUNT_NAME_LENGTH = DEFAULT_CONSTRAINTS["max_account_name_length"]
MAX_CONTAINER_NAME_LENGTH = DEFAULT_CONSTRAINTS["max_container_name_length"]
EXTRA_HEADER_COUNT = DEFAULT_CONSTRAINTS["extra_header_count"]

#: the values in force (defaults overlaid with the operator's ``[constraints]``)
EFFECTIVE_CONSTRAINTS = dict(DEFAULT_CONSTRAINTS)


def load_constraints(section: dict) -> dict:
    """Overlay the ``[constraints]`` options of ``oiofs.conf`` and return the result.

    Unknown option names raise ``ValueError`` so that typos do not pass silently.
    """
    g = globals()
    for key, value in section.items():
        if key not in DEFAULT_CONSTRAINTS:
            raise ValueError(f"unknown constraint {key!r}")
        EFFECTIVE_CONSTRAINTS[key] = int(value)
        g[key.upper()] = int(value)
    return dict(EFFECTIVE_CONSTRAINTS)


def check_utf8(value: str | bytes) -> bool:
    """True if ``value`` is valid UTF-8 without NUL characters."""
    if not value:
        return False
    try:
        if isinstance(value, str):
            # WSGI strings are latin-1 decoded bytes; a str that is not latin-1
            # representable is already text.
            try:
                raw = value.encode("latin-1")
            except UnicodeEncodeError:
                raw = value.encode("utf-8")
        else:
            raw = value
        text = raw.decode("utf-8")
    except UnicodeError:
        return False
    return "\x00" not in text


def _wsgi_utf8(value: str) -> bool:
    """True if the WSGI string ``value`` stands for valid UTF-8 bytes (no NUL).

    Unlike :func:`check_utf8`, text that latin-1 cannot hold is refused: a header name
    the WSGI server upper-cased into such characters could not be sent on again.
    """
    try:
        return check_utf8(value.encode("latin-1"))
    except UnicodeEncodeError:
        return False


def wsgi_to_str(value: str) -> str:
    """A WSGI (latin-1 decoded) string as real text; raises ``HTTPBadRequest`` if not UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return value
    except UnicodeDecodeError:
        raise HTTPBadRequest("Invalid UTF8") from None


def split_path(path: str, minsegs: int = 1, maxsegs: int | None = None,
               rest_with_last: bool = False) -> list[str | None]:
    """Split ``/a/b/c`` into its segments, checking their count.

    Missing optional segments are ``None``. With ``rest_with_last`` the last segment keeps
    any further slashes (object names may contain ``/``). Empty inner segments, ``.`` and
    ``..`` are refused with ``HTTPBadRequest``.
    """
    maxsegs = maxsegs or minsegs
    if not path.startswith("/"):
        raise HTTPBadRequest("Invalid path")
    if rest_with_last:
        segs = path[1:].split("/", maxsegs - 1)
    else:
        segs = path[1:].split("/")
    count = len(segs)
    if segs and segs[-1] == "" and not rest_with_last:
        # a trailing slash ends the path
        segs = segs[:-1]
        count = len(segs)
    if count < minsegs or count > maxsegs:
        raise HTTPBadRequest("Invalid path")
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "" and not (last and i >= minsegs):
            raise HTTPBadRequest("Invalid path")
        if seg in (".", "..") and not (last and rest_with_last and i >= minsegs):
            raise HTTPBadRequest("Invalid path")
    if segs and segs[-1] == "" and len(segs) > minsegs:
        segs[-1] = None
    segs.extend([None] * (maxsegs - len(segs)))
    return segs


def check_name_lengths(account: str | None, container: str | None = None,
                       obj: str | None = None) -> None:
    """Refuse names over their length limits (measured in UTF-8 bytes)."""
    for value, limit, what in (
        (account, MAX_ACCOUNT_NAME_LENGTH, "Account"),
        (container, MAX_CONTAINER_NAME_LENGTH, "Container"),
        (obj, MAX_OBJECT_NAME_LENGTH, "Object"),
    ):
        if value is not None and len(value.encode("utf-8", "surrogateescape")) > limit:
            raise HTTPBadRequest(f"{what} name length of {len(value)} longer than {limit}")


def meta_prefix(target_type: str) -> str:
    """The header prefix of user metadata for ``account``, ``container`` or ``object``."""
    return f"x-{target_type}-meta-"


def check_metadata(headers, target_type: str) -> None:
    """Check user metadata headers (``X-<Type>-Meta-*``) against the limits, as Swift does.

    ``headers`` is any mapping or iterable of ``(name, value)`` pairs with WSGI (latin-1)
    strings, so lengths count bytes. Raises ``HTTPBadRequest`` with Swift's text when a
    limit is passed. Names must be valid UTF-8 everywhere; values only for accounts and
    containers: an object's metadata values are stored and served byte for byte.
    """
    prefix = meta_prefix(target_type)
    items = headers.items() if hasattr(headers, "items") else headers
    count = 0
    size = 0
    for name, value in items:
        lname = name.lower()
        if not lname.startswith(prefix):
            continue
        key = name[len(prefix):]
        if not key:
            raise HTTPBadRequest("Metadata name cannot be empty")
        if not _wsgi_utf8(key) or (target_type != "object" and value
                                   and not check_utf8(value)):
            raise HTTPBadRequest("Metadata must be valid UTF-8")
        count += 1
        size += len(key) + len(value)
        if len(key) > MAX_META_NAME_LENGTH:
            raise HTTPBadRequest(f"Metadata name too long: {prefix}{key}")
        if len(value) > MAX_META_VALUE_LENGTH:
            raise HTTPBadRequest(f"Metadata value longer than {MAX_META_VALUE_LENGTH}: "
                                 f"{prefix}{key}")
        if count > MAX_META_COUNT:
            raise HTTPBadRequest(f"Too many metadata items; max {MAX_META_COUNT}")
        if size > MAX_META_OVERALL_SIZE:
            raise HTTPBadRequest(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")


def max_header_count() -> int:
    """How many header lines a request may have (more: 431), as Swift counts them.

    Enough for every metadata item a request may carry plus 36 for the usual and
    internal headers (and ``extra_header_count`` for middlewares), so that too much
    metadata is answered with the metadata limits' 400 and its reason.
    """
    return MAX_META_COUNT + 36 + max(EXTRA_HEADER_COUNT, 0)


def check_content_length(headers) -> int | None:
    """The request's Content-Length as an int, ``None`` if chunked.

    Raises ``HTTPBadRequest`` for a malformed value, ``HTTPLengthRequired`` when neither
    Content-Length nor chunked transfer encoding is given, ``HTTPNotImplemented`` for an
    unknown transfer encoding, and ``HTTPRequestEntityTooLarge`` above ``max_file_size``.
    """
    te = (headers.get("Transfer-Encoding") or "").lower()
    if te:
        codings = [c.strip() for c in te.split(",")]
        if codings[-1] != "chunked" or any(c not in ("chunked", "identity")
                                           for c in codings):
            raise HTTPNotImplemented("Invalid Transfer-Encoding header value")
        if headers.get("Content-Length") is not None:
            raise HTTPBadRequest("Both Content-Length and Transfer-Encoding given")
        return None
    value = headers.get("Content-Length")
    if value is None:
        raise HTTPLengthRequired("Missing Content-Length header.")
    if not value.isdigit():
        raise HTTPBadRequest("Invalid Content-Length header value")
    length = int(value)
    if length > MAX_FILE_SIZE:
        raise HTTPRequestEntityTooLarge("Your request is too large.")
    return length


def valid_timestamp(value: str | None) -> Timestamp:
    """The ``X-Timestamp`` of a backend write; ``HTTPBadRequest`` if missing or invalid."""
    if not value:
        raise HTTPBadRequest("Missing X-Timestamp header")
    try:
        return Timestamp(value)
    except InvalidTimestamp:
        raise HTTPBadRequest(f"X-Timestamp should be a UNIX timestamp float value; "
                             f"was {value!r}") from None


#: the latest expiry time: Swift keeps ``X-Delete-At`` to 10 digits (its expiry queue
#: sorts them as text), so later times are brought down to this one
MAX_DELETE_AT = 9999999999


def normalize_delete_at(when: int | float) -> int:
    """An expiry time as Swift stores it: whole seconds, at least 0, at most 9999999999."""
    if when >= MAX_DELETE_AT:
        return MAX_DELETE_AT
    return max(0, int(when))


def check_delete_headers(headers, now: float) -> int | None:
    """Resolve ``X-Delete-After``/``X-Delete-At`` into an absolute ``X-Delete-At``.

    Returns the epoch second (normalised by :func:`normalize_delete_at`) or ``None``.
    ``X-Delete-After`` wins when both are given. A value that is not an integer, or a
    time not after ``now`` (``X-Delete-After: 0`` included), is a ``HTTPBadRequest``.
    """
    after = headers.get("X-Delete-After")
    at = headers.get("X-Delete-At")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise HTTPBadRequest("Non-integer X-Delete-After") from None
        # no float arithmetic on a huge value: it would overflow
        when = normalize_delete_at(now + seconds if abs(seconds) < MAX_DELETE_AT
                                   else seconds)
        if when <= now:
            raise HTTPBadRequest("X-Delete-After in past")
        return when
    if at is not None:
        try:
            when = normalize_delete_at(int(at))
        except ValueError:
            raise HTTPBadRequest("Non-integer X-Delete-At") from None
        if when <= now:
            raise HTTPBadRequest("X-Delete-At in past")
        return when
    return None


def check_if_none_match(value: str | None) -> None:
    """Object PUT accepts ``If-None-Match`` only with ``*`` among its values (else 400)."""
    if value is not None and "*" not in (tag.strip() for tag in value.split(",")):
        raise HTTPBadRequest("If-None-Match only supports *")


def unquote_path(path: str) -> str:
    """Percent-decode a request path; refuse invalid UTF-8."""
    decoded = unquote(path, encoding="utf-8", errors="strict")
    return decoded
