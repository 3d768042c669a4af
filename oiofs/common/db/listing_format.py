"""Container and account listings: query parameters, output format, and the bodies.

Sans-IO: plain functions over strings, rows and records, shared by the container and
account servers and by the proxy. Errors are :class:`~oiofs.common.exceptions.HTTPError`
subclasses, so a bad parameter answers with its 4xx wherever it is detected.

Rows are what the brokers return: object rows ``(name, last_modified_ts, size,
content_type, etag)`` (``content_type`` ``None`` for a subdir) and container rows ``(name,
object_count, bytes_used, put_timestamp, is_subdir)``. Records are the JSON dicts clients
see. Bodies are produced in chunks, so a 10,000-entry listing is never one big string.

>>> params = parse_listing_params(QueryParams("limit=2&prefix=a%2F"), 10000)
>>> (params.limit, params.prefix, params.delimiter)
(2, 'a/', None)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import unquote_to_bytes

from lxml import etree
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from oiofs.common import constraints
from oiofs.common.config import config_true_value
from oiofs.common.exceptions import HTTPBadRequest, HTTPNotAcceptable, HTTPPreconditionFailed
from oiofs.common.timestamp import Timestamp

FORMAT_TO_CONTENT_TYPE = {
    "plain": "text/plain",
    "json": "application/json",
    "xml": "application/xml",
}
#: the listing content types in the order preferred when the client accepts several
LISTING_CONTENT_TYPES = ["text/plain", "application/json", "application/xml", "text/xml"]
#: records per chunk of a streamed body
CHUNK_RECORDS = 500

#: the keys of a raw object row in the backend-only listing form that includes deleted
#: rows (``X-Backend-Include-Deleted``), in the order the container broker returns them
RAW_ROW_KEYS = ("name", "created_at", "size", "content_type", "etag", "deleted")

#: one entry of a listing as JSON shows it (``name``, ``bytes``... or ``subdir``)
Record: TypeAlias = dict[str, Any]


class QueryParams:
    """A request's query string, decoded strictly on access.

    Values are percent-decoded and must be UTF-8 without NUL; :meth:`get` raises
    ``HTTPBadRequest`` otherwise. The last of repeated parameters wins.
    """

    def __init__(self, query_string: str | bytes):
        if isinstance(query_string, str):
            query_string = query_string.encode("latin-1", "replace")
        self._raw: dict[bytes, bytes] = {}
        for pair in query_string.split(b"&"):
            if not pair:
                continue
            key, _, value = pair.partition(b"=")
            self._raw[unquote_to_bytes(key.replace(b"+", b" "))] = unquote_to_bytes(
                value.replace(b"+", b" "))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The decoded value of ``name``, or ``default`` if it is absent."""
        raw = self._raw.get(name.encode("ascii"))
        if raw is None:
            return default
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPBadRequest(f"Invalid UTF8 or contains NULL in {name}") from None
        if "\x00" in value:
            raise HTTPBadRequest(f"Invalid UTF8 or contains NULL in {name}")
        return value

    def __contains__(self, name: str) -> bool:
        return name.encode("ascii") in self._raw


@dataclass(frozen=True)
class ListingParams:
    """What a listing request asks for (see :mod:`oiofs.common.db.listing` for the rules)."""

    limit: int
    marker: str = ""
    end_marker: str | None = None
    prefix: str | None = None
    delimiter: str | None = None
    path: str | None = None
    reverse: bool = False


def max_listing_limit(kind: str) -> int:
    """The largest ``limit`` of a ``container`` or ``account`` listing.

    The one source of the limit: the storage servers enforce it, the proxy checks it
    before asking them, and ``/info`` advertises the same ``<kind>_listing_limit``.
    """
    limit: int = getattr(constraints.LIMITS, f"{kind}_listing_limit")
    return limit


def parse_listing_params(params: QueryParams, max_limit: int) -> ListingParams:
    """Read ``limit, marker, end_marker, prefix, delimiter, path, reverse``.

    A ``limit`` that is not a non-negative integer is ignored (``max_limit`` is used), as
    in Swift; above ``max_limit`` it is a 412 ``Maximum limit is <max_limit>``. A
    delimiter may be several characters long. Invalid UTF-8 in any of them is a 400.
    """
    delimiter = params.get("delimiter")
    limit = max_limit
    given = params.get("limit")
    if given and given.isdigit() and given.isascii():
        limit = int(given)
        if limit > max_limit:
            raise HTTPPreconditionFailed(f"Maximum limit is {max_limit}")
    return ListingParams(
        limit=limit,
        marker=params.get("marker", "") or "",
        end_marker=params.get("end_marker") or None,
        prefix=params.get("prefix"),
        delimiter=delimiter or None,
        path=params.get("path"),
        reverse=config_true_value(params.get("reverse") or ""),
    )


def get_listing_content_type(params: QueryParams, accept: str | None) -> str:
    """The listing's content type from ``format=`` or else the ``Accept`` header.

    An unknown ``format`` means plain text; an ``Accept`` header matching none of the
    listing types is a 406. No header at all means plain text.
    """
    query_format = params.get("format")
    if query_format:
        accept = FORMAT_TO_CONTENT_TYPE.get(query_format.lower(), "text/plain")
    if not accept:
        return "text/plain"
    try:
        best = parse_accept_header(accept, MIMEAccept).best_match(LISTING_CONTENT_TYPES)
    except ValueError:
        raise HTTPBadRequest("Invalid Accept header") from None
    if not best:
        raise HTTPNotAcceptable("No listing format matches the Accept header")
    return best


# --- content type parameters --------------------------------------------------------------


def split_content_type(content_type: str) -> tuple[str, list[tuple[str, str]]]:
    """``'text/plain; a=b'`` as ``('text/plain', [('a', 'b')])``; malformed params dropped."""
    base, _, rest = content_type.partition(";")
    params = []
    if rest:
        for part in rest.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key:
                params.append((key.strip(), value.strip()))
    return base.strip(), params


def extract_swift_bytes(content_type: str) -> tuple[str, str | None]:
    """Separate a ``swift_bytes=N`` parameter from a content type.

    Large-object manifests keep the real size of their segments there; listings show it
    as ``bytes`` and hide the parameter. Other parameters are kept, as ``;k=v``.
    """
    if ";" not in content_type:
        return content_type, None
    base, params = split_content_type(content_type)
    swift_bytes = None
    for key, value in params:
        if key == "swift_bytes":
            swift_bytes = value
        else:
            base += f";{key}={value}"
    return base, swift_bytes


#: ETag parameters a symlink's container update carries -> the listing field showing it
SYMLINK_PARAMS = {"symlink_target_etag": "symlink_etag", "symlink_target_bytes": "symlink_bytes"}


def symlink_fields(etag: str) -> tuple[str, Record]:
    """``(hash, fields)`` of a listing row's stored ETag.

    The symlink filter records a link in its container row's ETag, as Swift does:
    ``<md5>; symlink_target=<c>/<o>; symlink_target_account=<a>`` (values percent-encoded),
    plus ``symlink_target_etag``/``symlink_target_bytes`` for a static link. Listings
    show the plain hash and ``symlink_path`` (``/v1/<a>/<c>/<o>``), ``symlink_etag`` and
    ``symlink_bytes``. Other parameters stay in the hash.

    >>> symlink_fields("d41d; symlink_target=c/o; symlink_target_account=AUTH_a")
    ('d41d', {'symlink_path': '/v1/AUTH_a/c/o'})
    >>> symlink_fields("abc")
    ('abc', {})
    """
    if ";" not in etag:
        return etag, {}
    base, *params = etag.split(";")
    fields: Record = {}
    target = account = None
    for param in params:
        key, sep, value = param.strip().partition("=")
        if key == "symlink_target":
            target = value
        elif key == "symlink_target_account":
            account = value
        elif key in SYMLINK_PARAMS:
            fields[SYMLINK_PARAMS[key]] = int(value) if value.isdigit() else value
        else:
            base += f"; {param.strip()}"
    if target is None:
        return etag, {}
    if account:
        fields["symlink_path"] = f"/v1/{account}/{target}"
    return base.strip(), fields


# --- rows to records ------------------------------------------------------------------------


def object_row_to_record(row: Sequence[Any]) -> Record:
    """The JSON record of an object row (``swift_bytes`` applied) or a subdir row."""
    name, last_modified, size, content_type, etag = row[:5]
    if content_type is None:
        return {"subdir": name}
    record: Record = {"bytes": size, "hash": etag, "name": name, "content_type": content_type}
    if etag and ";" in etag:
        record["hash"], extra = symlink_fields(etag)
        record.update(extra)
    if ";" in content_type:
        base, swift_bytes = extract_swift_bytes(content_type)
        record["content_type"] = base
        if swift_bytes is not None:
            try:
                record["bytes"] = int(swift_bytes)
            except ValueError:
                pass  # a broken parameter: show the stored size
    record["last_modified"] = Timestamp(last_modified).isoformat
    return record


def account_row_to_record(row: Sequence[Any]) -> Record:
    """The JSON record of a container row of an account, or a subdir row."""
    name, object_count, bytes_used, put_timestamp, is_subdir = row[:5]
    if is_subdir:
        return {"subdir": name}
    return {"name": name, "count": object_count, "bytes": bytes_used,
            "last_modified": Timestamp(put_timestamp).isoformat}


# --- bodies -------------------------------------------------------------------------------------


def _batches(records: Iterable[Record]) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= CHUNK_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_json(records: Iterable[Record]) -> Iterator[bytes]:
    """The records as one JSON array (ASCII, ``\\u`` escapes), in chunks."""
    yield b"["
    first = True
    for batch in _batches(records):
        text = json.dumps(batch)[1:-1]
        yield (text if first else ", " + text).encode("ascii")
        first = False
    yield b"]"


def iter_plain(records: Iterable[Record]) -> Iterator[bytes]:
    """One name (or subdir) per line, UTF-8, in chunks."""
    for batch in _batches(records):
        yield "".join((r.get("name") or r["subdir"]) + "\n" for r in batch).encode(
            "utf-8", "surrogateescape")


#: child elements of each XML entry, per root tag
XML_FIELDS = {
    "container": ("object", ("name", "hash", "bytes", "content_type", "last_modified")),
    "account": ("container", ("name", "count", "bytes", "last_modified")),
}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


#: every character outside XML 1.0's ``Char`` production (C0 controls but tab, LF and CR;
#: surrogates; U+FFFE and U+FFFF)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: object) -> str:
    """``value`` as text XML 1.0 can carry: characters it cannot hold become U+FFFD.

    XML cannot represent them at all, not even escaped, and lxml refuses them; a name
    holding one (object names may hold any UTF-8 but NUL) must not turn the whole listing
    into an error. Swift sends such listings too (as ill-formed XML); oiofs sends
    well-formed XML with the character replaced.
    """
    return _XML_INVALID.sub("\ufffd", str(value))


def _xml_entry(record: Record, entry_tag: str, fields: tuple[str, ...],
               text: Callable[[object], str]) -> etree._Element:
    if "subdir" in record:
        entry = etree.Element("subdir", name=text(record["subdir"]))
        etree.SubElement(entry, "name").text = text(record["subdir"])
        return entry
    entry = etree.Element(entry_tag)
    for field in fields:
        etree.SubElement(entry, field).text = text(record[field])
    return entry


def iter_xml(records: Iterable[Record], root_tag: str, root_name: str,
             fields: tuple[str, ...] | None = None) -> Iterator[bytes]:
    """``<root_tag name="root_name">`` with one element per record, built with lxml.

    ``root_tag`` is ``container`` (object entries) or ``account`` (container entries);
    ``fields``: the child elements of each entry, if not the root tag's usual ones.
    """
    entry_tag, usual = XML_FIELDS[root_tag]
    fields = fields or usual
    root = etree.tostring(etree.Element(root_tag, name=xml_safe(root_name)))
    # an empty element serializes as <tag name="..."/>: open and close it around entries
    head = root[:-2] + b">"
    yield XML_DECLARATION + head
    for batch in _batches(records):
        parts = []
        for record in batch:
            try:
                entry = _xml_entry(record, entry_tag, fields, str)
            except ValueError:
                entry = _xml_entry(record, entry_tag, fields, xml_safe)
            parts.append(etree.tostring(entry, encoding="UTF-8"))
        yield b"".join(parts)
    yield b"</" + root_tag.encode("ascii") + b">"


def iter_listing_body(records: Iterable[Record], content_type: str, root_tag: str,
                      root_name: str) -> Iterator[bytes]:
    """The body of a listing in ``content_type`` (one of :data:`LISTING_CONTENT_TYPES`)."""
    if content_type.endswith("/json"):
        return iter_json(records)
    if content_type.endswith("/xml"):
        return iter_xml(records, root_tag, root_name)
    return iter_plain(records)
