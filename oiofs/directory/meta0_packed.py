"""The meta0 document in a compact form, as the directory stores and serves it.

A whole mapping names 65,536 prefixes; as plain JSON (prefix -> list of service ids) that
is about 75 bytes a prefix with three replicas, ~5 MB. Packed, the service ids are written
once (``ids``) and the mapping is one table of 16-bit indices into them, ``width`` per
prefix in prefix order (``NONE`` for no service: a prefix not mapped, or a shorter list),
zlib-compressed and base64-encoded (``rows``)::

    {"format": 1, "ids": ["svc-a", "svc-b", ...], "width": 3, "rows": "eJzt...",
     "services": [...], "settings": {...}}

A 4-digit mapping of 3 replicas over 100 services packs to a few hundred kB; a shorter
one (every prefix of a base alike) to a few kB.

>>> doc = {"mapping": {"00AB": ["a", "b"], "FFFF": ["b"]}, "services": [], "settings": {}}
>>> unpack(pack(doc)) == doc
True
"""

from __future__ import annotations

import base64
import binascii
import zlib
from array import array
from typing import Any

from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.prefixes import normalize_prefix

FORMAT = 1
PREFIXES = 1 << 16
#: the index of "no service" in the table
NONE = 0xFFFF
#: most services one prefix may list (a sanity bound on the table's size)
MAX_WIDTH = 64
#: where the directory keeps the packed document (one record of its store)
META0_NAMESPACE, META0_KEY = "meta0", "document"


def pack(doc: dict[str, Any]) -> dict[str, Any]:
    """The packed form of a meta0 document (``mapping``, ``services``, ``settings``);
    :class:`Meta0Error` for a mapping that is not prefix -> non-empty list of ids."""
    mapping = doc.get("mapping") or {}
    if not isinstance(mapping, dict):
        raise Meta0Error("the mapping must be a JSON object: prefix -> service ids")
    ids: dict[str, int] = {}
    rows: dict[int, list[int]] = {}
    for pfx, services in mapping.items():
        if not isinstance(services, list) or not services \
                or not all(isinstance(s, str) and s for s in services):
            raise Meta0Error(f"prefix {pfx!r}: expected a non-empty list of service ids")
        rows[int(normalize_prefix(pfx), 16)] = [ids.setdefault(s, len(ids))
                                                for s in services]
    if len(ids) >= NONE:
        raise Meta0Error(f"more than {NONE - 1} distinct services in one mapping")
    width = max((len(r) for r in rows.values()), default=0)
    if width > MAX_WIDTH:
        raise Meta0Error(f"more than {MAX_WIDTH} services for one prefix")
    table = array("H", [NONE]) * (PREFIXES * width)
    for index, row in rows.items():
        table[index * width:index * width + len(row)] = array("H", row)
    if table.itemsize != 2:  # pragma: no cover - "H" is 2 bytes on every CPython platform
        raise Meta0Error("unsigned short is not 16 bits here")
    if array("H", [1]).tobytes() != b"\x01\x00":
        table.byteswap()  # stored little-endian whatever the machine
    return {"format": FORMAT, "ids": list(ids), "width": width,
            "rows": base64.b64encode(zlib.compress(table.tobytes(), 6)).decode("ascii"),
            "services": list(doc.get("services") or []),
            "settings": dict(doc.get("settings") or {})}


def unpack(packed: Any) -> dict[str, Any]:
    """The meta0 document of a packed one; :class:`Meta0Error` if ``packed`` is not a
    well-formed packed document (so it can check what a client sends)."""
    if not isinstance(packed, dict) or packed.get("format") != FORMAT:
        raise Meta0Error(f"not a packed meta0 document (format {FORMAT})")
    ids, width, services, settings = (packed.get(k) for k in
                                      ("ids", "width", "services", "settings"))
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids) \
            or len(ids) >= NONE or len(set(ids)) != len(ids):
        raise Meta0Error("ids: expected a list of distinct service ids")
    if not isinstance(width, int) or not 0 <= width <= MAX_WIDTH:
        raise Meta0Error(f"width: expected an integer from 0 to {MAX_WIDTH}")
    if not isinstance(services, list) or not isinstance(settings, dict):
        raise Meta0Error("services must be a list and settings an object")
    size = PREFIXES * width * 2
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(str(packed.get("rows", "")),
                                                   validate=True), size + 1)
    except (binascii.Error, ValueError, zlib.error) as err:
        raise Meta0Error(f"rows: not base64 of zlib data: {err}") from None
    if len(raw) != size or not inflater.eof:
        raise Meta0Error(f"rows: expected {size} bytes for width {width}")
    table = array("H")
    table.frombytes(raw)
    if array("H", [1]).tobytes() != b"\x01\x00":
        table.byteswap()
    mapping: dict[str, list[str]] = {}
    for index in range(PREFIXES if width else 0):
        row = [i for i in table[index * width:(index + 1) * width] if i != NONE]
        if not row:
            continue
        try:
            mapping[f"{index:04X}"] = [ids[i] for i in row]
        except IndexError:
            raise Meta0Error(f"rows: prefix {index:04X} names no known id") from None
    return {"mapping": mapping, "services": services, "settings": settings}


#: the packed form of an empty document (nothing saved yet)
EMPTY: dict[str, Any] = {"format": FORMAT, "ids": [], "width": 0,
                         "rows": base64.b64encode(zlib.compress(b"")).decode("ascii"),
                         "services": [], "settings": {}}
