"""References: named records (account, reference) to which services are linked by type.

A reference is identified by its ``cid``, the upper-case hex SHA-256 of
``account + "\\0" + reference`` (:func:`cid_of`), and holds properties and *links*. A link
is ``{"type", "host", "seq", "args"}``: ``host`` is one address, or several separated by
commas when the type is linked to a set of services; ``seq`` numbers the sets of one type:

* :meth:`ReferenceBook.link` polls services of the type from the conscience (highest
  scores, in distinct locations) and links them at ``seq`` 1, unless the type is linked
  already (then the existing links are returned unchanged);
* :meth:`ReferenceBook.renew` polls a new set and links it at the next ``seq``, keeping
  the older ones (the highest ``seq`` is the current set);
* :meth:`ReferenceBook.force` links exactly the given services at the given ``seq``
  (``replace`` overwrites a link of the same type and ``seq``; without it that is a
  conflict);
* :meth:`ReferenceBook.unlink` removes every link of the type.

A reference with links cannot be deleted unless ``force`` is given.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from oiofs.directory.conscience import Conscience, check_type
from oiofs.directory.errors import (
    InvalidRequest,
    NoServiceAvailable,
    NoSuchReference,
    ReferenceConflict,
)
from oiofs.directory.store import DirectoryStore, Record

NAMESPACE = "reference"
MAX_NAME = 1024
MAX_PROPERTIES = 256


def cid_of(account: str, reference: str) -> str:
    """The id of a reference.

    >>> cid_of("AUTH_test", "volume-1")[:16]
    'A270AB269EFC0EBB'
    """
    digest = hashlib.sha256(account.encode("utf-8") + b"\0" + reference.encode("utf-8"))
    return digest.hexdigest().upper()


def check_cid(value: Any) -> str:
    """``value`` upper-cased if it is 64 hex digits, else :class:`InvalidRequest`."""
    if isinstance(value, str) and len(value) == 64:
        try:
            int(value, 16)
            return value.upper()
        except ValueError:
            pass
    raise InvalidRequest(f"invalid cid {value!r} (64 hex digits)")


def resolve_cid(account: str | None, reference: str | None, cid: str | None) -> str:
    """The cid named by ``cid``, or by ``account`` and ``reference``."""
    if cid:
        return check_cid(cid)
    if not account or not reference:
        raise InvalidRequest("name the reference: acct and ref, or cid")
    for name in (account, reference):
        if len(name) > MAX_NAME:
            raise InvalidRequest(f"names are at most {MAX_NAME} characters")
    return cid_of(account, reference)


def location_distance(loc1: str, loc2: str) -> int:
    """How far apart two locations are: the number of their dotted parts, counted from
    the first one that differs (0: the same place).

    >>> location_distance("1.2.host3.d3", "1.2.host4.d4"), location_distance("a.b", "a.b")
    (2, 0)
    """
    parts1, parts2 = loc1.split("."), loc2.split(".")
    common = 0
    for one, two in zip(parts1, parts2, strict=False):
        if one != two:
            break
        common += 1
    return max(len(parts1), len(parts2)) - common


def check_properties(value: Any) -> dict[str, str]:
    """A properties object (text keys and values), else :class:`InvalidRequest`."""
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > MAX_PROPERTIES
            or not all(isinstance(k, str) and isinstance(v, str) and len(k) <= MAX_NAME
                       and len(v) <= 65536 for k, v in value.items())):
        raise InvalidRequest(f"properties are an object of at most {MAX_PROPERTIES} text "
                             "keys and text values")
    return dict(value)


class ReferenceBook:
    """References and their links, over a store and the conscience."""

    def __init__(self, store: DirectoryStore, conscience: Conscience,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None):
        self.store = store
        self.conscience = conscience
        self.clock = clock
        self.rng = rng or random.Random()

    # --- references -------------------------------------------------------------------

    def create(self, account: str, reference: str,
               properties: dict[str, str] | None = None) -> bool:
        """Create the reference; ``False`` if it existed (its properties are then left
        as they are)."""
        cid = resolve_cid(account, reference, None)
        props = check_properties(properties)
        created = False

        def change(old: Record | None) -> Record | None:
            nonlocal created
            if old is not None:
                return None
            created = True
            return {"cid": cid, "account": account, "reference": reference,
                    "properties": props, "links": [], "ctime": self.clock()}

        self.store.update(NAMESPACE, cid, change)
        return created

    def has(self, cid: str) -> bool:
        """True if the reference exists."""
        return self.store.get(NAMESPACE, check_cid(cid)) is not None

    def show(self, cid: str, service_type: str | None = None) -> dict[str, Any]:
        """``{"cid", "account", "reference", "srv": [links]}`` (of ``service_type`` only
        when given); :class:`NoSuchReference` if it does not exist."""
        record = self._get(cid)
        links = record["links"]
        if service_type:
            links = [link for link in links if link["type"] == service_type]
        return {"cid": record["cid"], "account": record["account"],
                "reference": record["reference"], "srv": links}

    def delete(self, cid: str, force: bool = False) -> None:
        """Delete the reference (refused while services are linked, unless ``force``)."""
        record = self._get(cid)
        if record["links"] and not force:
            raise ReferenceConflict("services are still linked to the reference "
                                    "(unlink them first, or force)")
        self.store.delete(NAMESPACE, record["cid"])

    def _get(self, cid: str) -> Record:
        record = self.store.get(NAMESPACE, check_cid(cid))
        if record is None:
            raise NoSuchReference(f"no reference {cid}")
        return record

    def _change(self, cid: str, change: Callable[[Record], Record],
                autocreate: tuple[str, str] | None = None) -> Record:
        """Apply ``change`` to an existing reference (or, with ``autocreate``
        ``(account, reference)``, to a new one)."""
        def apply(old: Record | None) -> Record:
            if old is None:
                if autocreate is None:
                    raise NoSuchReference(f"no reference {cid}")
                old = {"cid": cid, "account": autocreate[0], "reference": autocreate[1],
                       "properties": {}, "links": [], "ctime": self.clock()}
            return change(old)

        stored = self.store.update(NAMESPACE, check_cid(cid), apply)
        assert stored is not None
        return stored

    # --- links ------------------------------------------------------------------------

    def poll(self, service_type: str, count: int = 1,
             avoid: tuple[str, ...] = ()) -> list[str]:
        """``count`` addresses of services of the type scoring above 0, chosen by score
        (weighted at random) and spread over locations as far apart as possible."""
        candidates = [s for s in self.conscience.list(check_type(service_type))
                      if s["score"] > 0 and s["addr"] not in avoid]
        if len(candidates) < count:
            raise NoServiceAvailable(f"{count} {service_type} service(s) wanted, "
                                     f"{len(candidates)} available")
        # weighted shuffle: a higher score comes first more often
        candidates.sort(key=lambda s: self.rng.random() ** (1.0 / s["score"]), reverse=True)
        chosen: list[dict[str, Any]] = []
        while len(chosen) < count:
            def spread(service: dict[str, Any]) -> int:
                loc = str(service["tags"].get("tag.loc", service["addr"]))
                return min((location_distance(loc, str(c["tags"].get("tag.loc", c["addr"])))
                            for c in chosen), default=0)

            best = max((s for s in candidates if s not in chosen), key=spread)
            chosen.append(best)
        return [service["addr"] for service in chosen]

    def link(self, cid: str, service_type: str, count: int = 1,
             autocreate: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Link ``count`` polled services of the type unless the type is linked already;
        the links of the type afterwards."""
        def change(record: Record) -> Record:
            if not any(link["type"] == service_type for link in record["links"]):
                record["links"].append(self._new_link(record, service_type, count))
            return record

        stored = self._change(cid, change, autocreate)
        return [link for link in stored["links"] if link["type"] == service_type]

    def renew(self, cid: str, service_type: str, count: int = 1) -> list[dict[str, Any]]:
        """Poll a new set of services of the type and link it at the next ``seq``."""
        def change(record: Record) -> Record:
            current = [link["host"] for link in record["links"]
                       if link["type"] == service_type]
            avoid = tuple(current[-1].split(",")) if current else ()
            try:
                link = self._new_link(record, service_type, count, avoid)
            except NoServiceAvailable:
                link = self._new_link(record, service_type, count)  # the same ones again
            record["links"].append(link)
            return record

        stored = self._change(cid, change)
        return [link for link in stored["links"] if link["type"] == service_type]

    def _new_link(self, record: Record, service_type: str, count: int,
                  avoid: tuple[str, ...] = ()) -> dict[str, Any]:
        if not 1 <= count <= 16:
            raise InvalidRequest("count must be between 1 and 16")
        seqs = [link["seq"] for link in record["links"] if link["type"] == service_type]
        return {"type": service_type, "host": ",".join(self.poll(service_type, count, avoid)),
                "seq": max(seqs, default=0) + 1, "args": ""}

    def unlink(self, cid: str, service_type: str) -> None:
        """Remove every link of the type (nothing to remove is fine)."""
        check_type(service_type)

        def change(record: Record) -> Record:
            record["links"] = [link for link in record["links"]
                               if link["type"] != service_type]
            return record

        self._change(cid, change)

    def force(self, cid: str, links: list[Any], replace: bool = False,
              autocreate: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Link exactly ``links`` (``{"type", "host", "seq", "args"}``); a link whose
        type and ``seq`` exist already replaces it with ``replace``, else conflicts."""
        checked = [_check_link(link) for link in links]

        def change(record: Record) -> Record:
            for link in checked:
                same = [old for old in record["links"]
                        if old["type"] == link["type"] and old["seq"] == link["seq"]]
                if same and not replace:
                    raise ReferenceConflict(f"{link['type']} seq {link['seq']} is linked "
                                            "already (replace to overwrite)")
                record["links"] = [old for old in record["links"] if old not in same]
                record["links"].append(link)
            record["links"].sort(key=lambda link: (link["type"], link["seq"]))
            return record

        return self._change(cid, change, autocreate)["links"]

    # --- properties -------------------------------------------------------------------

    def get_properties(self, cid: str, keys: list[str] | None = None) -> dict[str, str]:
        """The reference's properties (only ``keys`` when given)."""
        props: dict[str, str] = self._get(cid)["properties"]
        return {k: v for k, v in props.items() if not keys or k in keys}

    def set_properties(self, cid: str, properties: Any, clear: bool = False) -> None:
        """Set properties (``clear``: drop the others first)."""
        props = check_properties(properties)

        def change(record: Record) -> Record:
            record["properties"] = ({} if clear else record["properties"]) | props
            return record

        self._change(cid, change)

    def del_properties(self, cid: str, keys: list[str] | None = None) -> None:
        """Delete the properties named in ``keys`` (every property when ``None``)."""
        def change(record: Record) -> Record:
            record["properties"] = ({} if keys is None else
                                    {k: v for k, v in record["properties"].items()
                                     if k not in keys})
            return record

        self._change(cid, change)


def _check_link(link: Any) -> dict[str, Any]:
    if not isinstance(link, dict):
        raise InvalidRequest("a link is an object {type, host, seq, args}")
    host = link.get("host")
    if not isinstance(host, str) or not host:
        raise InvalidRequest("a link needs a host (addresses separated by commas)")
    seq = link.get("seq", 1)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidRequest("seq must be a positive integer")
    args = link.get("args", "")
    if not isinstance(args, str):
        raise InvalidRequest("args must be text")
    return {"type": check_type(link.get("type")), "host": host, "seq": seq, "args": args}
