"""Limits on names, metadata and sizes, and the checks that enforce them.

The defaults match what Swift clients expect; an operator may change them in the
``[constraints]`` section of ``oiofs.conf`` (see :func:`load_constraints`). Every check
raises an :class:`~oiofs.common.exceptions.HTTPError` subclass with a short text, so a bad
request becomes a clear 4xx wherever it is detected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Protocol
from urllib.parse import unquote

from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPLengthRequired,
    HTTPNotImplemented,
    HTTPRequestEntityTooLarge,
    InvalidTimestamp,
)
from oiofs.common.timestamp import Timestamp


class HeaderItems(Protocol):
    """Headers that list their ``(name, value)`` pairs (a dict, werkzeug's ``Headers``)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


class HeaderGetter(Protocol):
    """Headers read by name: ``get`` answers the value or ``None`` when absent."""

    def get(self, key: str, /) -> str | None: ...


@dataclass
class Limits:
    """The limits in force: Swift's defaults, overlaid with the operator's ``[constraints]``.

    There is one instance, :data:`LIMITS`, changed in place by :func:`load_constraints`.
    Code reads its attributes when it checks a request (``LIMITS.max_file_size``), never a
    copy taken at import time, so an override in ``oiofs.conf`` applies everywhere, whatever
    the order in which modules were imported.
    """

    max_file_size: int = 5 * 1024 ** 3 + 2
    max_meta_name_length: int = 128
    max_meta_value_length: int = 256
    max_meta_count: int = 90
    max_meta_overall_size: int = 4096
    max_header_size: int = 8192
    max_object_name_length: int = 1024
    container_listing_limit: int = 10000
    account_listing_limit: int = 10000
    max_account_name_length: int = 256
    max_container_name_length: int = 256
    extra_header_count: int = 0

    def update(self, section: Mapping[str, str | int]) -> None:
        """Set the limits named in ``section`` (values: integers or their text).

        All or nothing: an unknown name (a typo must not pass silently) or a value that is
        not an integer raises ``ValueError`` and changes no limit.
        """
        known = {f.name for f in fields(self)}
        values = {}
        for key, value in section.items():
            if key not in known:
                raise ValueError(f"unknown constraint {key!r}")
            try:
                values[key] = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"constraint {key}: {value!r} is not an integer") from None
        for key, number in values.items():
            setattr(self, key, number)

    def as_dict(self) -> dict[str, int]:
        """``{name: value}`` of every limit (what ``/info`` advertises)."""
        return asdict(self)


#: the limits of this process; read its attributes at use time
LIMITS = Limits()
#: Swift's defaults, by option name
DEFAULT_CONSTRAINTS = Limits().as_dict()


def load_constraints(section: Mapping[str, str | int]) -> dict[str, int]:
    """Overlay the ``[constraints]`` options of ``oiofs.conf`` on :data:`LIMITS`.

    Returns the limits now in force. ``ValueError`` for an unknown option name or a value
    that is not an integer (nothing is changed then).
    """
    LIMITS.update(section)
    return LIMITS.as_dict()


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
    segs: list[str | None]
    if rest_with_last:
        segs = list(path[1:].split("/", maxsegs - 1))
    else:
        segs = list(path[1:].split("/"))
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


def split_path_exact(path: str, count: int, rest_with_last: bool = False) -> list[str]:
    """:func:`split_path` of a path that must have exactly ``count`` segments (so none is
    ``None``)."""
    return [seg for seg in split_path(path, count, count, rest_with_last) if seg is not None]


def check_name_lengths(account: str | None, container: str | None = None,
                       obj: str | None = None) -> None:
    """Refuse names over their length limits (measured in UTF-8 bytes)."""
    for value, limit, what in (
        (account, LIMITS.max_account_name_length, "Account"),
        (container, LIMITS.max_container_name_length, "Container"),
        (obj, LIMITS.max_object_name_length, "Object"),
    ):
        if value is not None and len(value.encode("utf-8", "surrogateescape")) > limit:
            raise HTTPBadRequest(f"{what} name length of {len(value)} longer than {limit}")


def meta_prefix(target_type: str) -> str:
    """The header prefix of user metadata for ``account``, ``container`` or ``object``."""
    return f"x-{target_type}-meta-"


def check_metadata(headers: HeaderItems | Iterable[tuple[str, str]], target_type: str) -> None:
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
        if len(key) > LIMITS.max_meta_name_length:
            raise HTTPBadRequest(f"Metadata name too long: {prefix}{key}")
        if len(value) > LIMITS.max_meta_value_length:
            raise HTTPBadRequest(f"Metadata value longer than {LIMITS.max_meta_value_length}: "
                                 f"{prefix}{key}")
        if count > LIMITS.max_meta_count:
            raise HTTPBadRequest(f"Too many metadata items; max {LIMITS.max_meta_count}")
        if size > LIMITS.max_meta_overall_size:
            raise HTTPBadRequest(f"Total metadata too large; max {LIMITS.max_meta_overall_size}")


def max_header_count() -> int:
    """How many header lines a request may have (more: 431), as Swift counts them.

    Enough for every metadata item a request may carry plus 36 for the usual and
    internal headers (and ``extra_header_count`` for middlewares), so that too much
    metadata is answered with the metadata limits' 400 and its reason.
    """
    return LIMITS.max_meta_count + 36 + max(LIMITS.extra_header_count, 0)


def check_content_length(headers: HeaderGetter) -> int | None:
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
    if length > LIMITS.max_file_size:
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


def check_delete_headers(headers: HeaderGetter, now: float) -> int | None:
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
