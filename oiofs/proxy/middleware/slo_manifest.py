"""SLO manifests without I/O: what a client sends, what is stored, what is served back.

Three forms of the same list:

* **put** (client input of ``PUT ?multipart-manifest=put``): a JSON list of
  ``{"path": "/container/object", "etag": ..., "size_bytes": ..., "range": "a-b"}``;
  ``etag``, ``size_bytes`` and ``range`` are optional (``null`` or absent: not checked,
  whole object). :func:`parse_put_manifest` checks its shape and says every problem as
  ``Index <n>: <problem>`` lines, as Swift does.
* **stored** (the manifest object's body, served by ``multipart-manifest=get``): a JSON
  list of ``{"name", "bytes", "hash", "content_type", "last_modified"}`` plus ``range``
  and ``sub_slo`` when they apply; ``bytes`` is what the segment adds to the large object.
* **raw** (``multipart-manifest=get&format=raw``): the stored list in the put form, so it
  can be uploaded again as it is.

:func:`check_segment` compares one requested segment with what a ``HEAD`` of it found
and gives the stored entry or the problem, worded like Swift's
(``/c/o, Etag Mismatch``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from oiofs.common.http.ranges import ByteRangeSpec, parse_range_header, resolve_ranges
from oiofs.proxy.middleware.segments import Segment

PUT_KEYS = frozenset(("path", "etag", "size_bytes", "range"))


class ManifestError(ValueError):
    """A manifest that cannot be used; ``str()`` is the text for the client (400)."""


@dataclass(frozen=True)
class Requested:
    """One segment as the client asked for it (put form, checked for shape)."""

    index: int
    path: str  # /container/object, text
    etag: str | None
    size_bytes: int | None
    range: ByteRangeSpec | None


def _parse_range(value: str) -> ByteRangeSpec | str:
    specs = parse_range_header("bytes=" + value)
    if specs is None:
        return "invalid range"
    if len(specs) > 1:
        return "multiple ranges (only one allowed)"
    return specs[0]


def parse_put_manifest(body: bytes, max_segments: int) -> list[Requested]:
    """The segments of a client's manifest; :class:`ManifestError` listing all problems."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError("Manifest must be valid JSON.\n") from None
    if not isinstance(data, list):
        raise ManifestError("Manifest must be a list.\n")
    if len(data) > max_segments:
        raise ManifestError(f"Number of segments must be <= {max_segments}\n")
    if not data:
        raise ManifestError("Manifest must have at least one segment.\n")
    errors: list[str] = []
    out: list[Requested] = []
    for index, item in enumerate(data):
        problem = None
        if not isinstance(item, dict):
            problem = "not a JSON object"
        elif "data" in item:
            problem = "inline data segments are not supported"
        elif set(item) - PUT_KEYS:
            problem = "extraneous keys " + ", ".join(
                f'"{k}"' for k in sorted(set(item) - PUT_KEYS))
        elif not isinstance(item.get("path"), str):
            problem = '"path" must be a string'
        else:
            container, _, obj = item["path"].lstrip("/").partition("/")
            if not container or not obj:
                problem = ("path does not refer to an object. Path must be of the form "
                           "/container/object.")
        if problem is None:
            etag = item.get("etag")
            size = item.get("size_bytes")
            if etag is not None and not isinstance(etag, str):
                problem = '"etag" must be a string or null (if provided)'
            elif size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                       or size < 0):
                problem = '"size_bytes" must be a non-negative integer, or null'
        spec = None
        if problem is None and item.get("range") is not None:
            if not isinstance(item["range"], str):
                problem = '"range" must be a string'
            else:
                parsed = _parse_range(item["range"])
                if isinstance(parsed, str):
                    problem = parsed
                else:
                    spec = parsed
        if problem is not None:
            errors.append(f"Index {index}: {problem}")
            continue
        container, _, obj = item["path"].lstrip("/").partition("/")
        etag = item.get("etag")
        out.append(Requested(index, f"/{container}/{obj}",
                             etag.strip('"') if etag is not None else None,
                             item.get("size_bytes"), spec))
    if errors:
        raise ManifestError("\n".join(errors) + "\n")
    return out


@dataclass(frozen=True)
class Found:
    """What a ``HEAD`` of a segment said (through the pipeline, as the user)."""

    status: int
    size: int = 0
    etag: str | None = None
    content_type: str = ""
    last_modified: str = ""
    sub_slo: bool = False


def check_segment(req: Requested, found: Found, min_size: int,
                  last: bool) -> tuple[dict | None, str | None]:
    """``(stored entry, None)`` or ``(None, problem)`` for one requested segment."""
    if found.status // 100 != 2:
        reason = {404: "404 Not Found", 401: "401 Unauthorized",
                  403: "403 Forbidden"}.get(found.status, f"{found.status} Error")
        return None, reason
    if req.size_bytes is not None and req.size_bytes != found.size:
        return None, "Size Mismatch"
    if req.etag is not None and req.etag.lower() != (found.etag or "").lower():
        return None, "Etag Mismatch"
    entry: dict = {"name": req.path, "bytes": found.size, "hash": found.etag or "",
                   "content_type": found.content_type, "last_modified": found.last_modified}
    if found.sub_slo:
        entry["sub_slo"] = True
    if req.range is not None:
        ranges = resolve_ranges([req.range], found.size)
        if not ranges:
            return None, "Unsatisfiable Range"
        start, stop = ranges[0]
        if (start, stop) != (0, found.size):
            entry["range"] = f"{start}-{stop - 1}"
            entry["bytes"] = stop - start
    if entry["bytes"] < 1:
        return None, "Too small; each segment must be at least 1 byte."
    if not last and entry["bytes"] < min_size:
        return None, f"Too small; each segment, except the last, must be at least " \
                     f"{min_size} bytes."
    return entry, None


def format_problems(problems: list[tuple[str, str]]) -> str:
    """The body listing segment problems: ``Errors:`` then ``<path>, <reason>`` lines."""
    return "Errors:\n" + "".join(f"{quote(path)}, {reason}\n" for path, reason in problems)


def stored_to_segments(stored: list) -> list[Segment]:
    """The segments of a stored manifest; :class:`ManifestError` if it is not one."""
    if not isinstance(stored, list):
        raise ManifestError("stored manifest is not a list")
    out = []
    for entry in stored:
        try:
            name, size = entry["name"], int(entry["bytes"])
            offset = None
            if entry.get("range"):
                offset = int(str(entry["range"]).split("-", 1)[0])
            out.append(Segment(name, entry.get("hash") or None, size, offset,
                               bool(entry.get("sub_slo"))))
        except (KeyError, TypeError, ValueError):
            raise ManifestError("stored manifest entry is malformed") from None
    return out


def stored_to_raw(stored: list) -> list[dict]:
    """The stored manifest in the put form (``format=raw``), ready to be uploaded again.

    A ranged entry's ``bytes`` is the range's length, not the segment's size, so its
    ``size_bytes`` is left ``null`` (not checked on upload) rather than made wrong.
    """
    raw = []
    for entry in stored:
        item = {"path": entry["name"], "etag": entry.get("hash")}
        if entry.get("range"):
            item["size_bytes"] = None
            item["range"] = entry["range"]
        else:
            item["size_bytes"] = entry["bytes"]
        raw.append(item)
    return raw
