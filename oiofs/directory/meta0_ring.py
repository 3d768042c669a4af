"""A meta0 mapping as a ring, and a ring as a mapping.

A mapping of ``digits`` hex digits is a partition table of part power ``4 * digits``:
base ``B`` is partition ``int(B[:digits], 16)`` and its replica ``r`` is held by the
mapping's ``r``-th service of that base. So the mapping can be written as the cluster's
container or account ring (``*.ring.gz`` that :class:`oiofs.common.ring.Ring` loads), and
a ring read back as a mapping.

Export: one ring device per known service (holding bases or not), ids given in service
id order. ``ip``/``port`` come from the service's ``addr``; ``region`` and ``zone`` from
the first two location tokens (as integers when every token of that level is one, else
numbered 1, 2, ... in sorted order); the device name from the service's ``device`` key,
else the last location token. The device ``meta`` keeps ``{"id", "loc", "score"}`` as
JSON so that an import gives back the very same service ids, locations and scores.

Import: a device whose ``meta`` is such a document gives that service back; any other
device becomes the service ``ip:port/device`` at location
``region.zone.<ip:port>.<device>`` (dots in tokens turned into ``_``), score 100, or 0
when its weight is 0.

>>> from oiofs.directory.meta0 import Meta0PrefixMapping
>>> svcs = [{"addr": f"127.0.0.1:{6000 + i}", "score": 9, "tags": {"tag.loc": f"1.{i}.h.d"}}
...         for i in range(3)]
>>> m = Meta0PrefixMapping(None, replicas=2, digits=1, services=svcs)
>>> m.bootstrap()
>>> ring = export_ring(m)
>>> ring.part_power, ring.replica_count, len(ring.devs)
(4, 2, 3)
>>> import_ring(ring).raw_services_by_base == m.raw_services_by_base
True
"""

from __future__ import annotations

import json
from array import array
from typing import Any

from oiofs.common.exceptions import RingBuilderError
from oiofs.common.ring.devices import Device, normalize_device
from oiofs.common.ring.ringdata import RingData
from oiofs.directory.meta0 import Meta0PrefixMapping
from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.prefixes import PREFIX_DIGITS, generate_prefixes

_BITS_PER_DIGIT = 4


def split_addr(addr: object) -> tuple[str, int]:
    """``("ip", port)`` from ``ip:port`` or ``[v6]:port``; :class:`Meta0Error` otherwise."""
    if not isinstance(addr, str) or ":" not in addr:
        raise Meta0Error(f"invalid service address {addr!r}: expected ip:port")
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit():
        raise Meta0Error(f"invalid service address {addr!r}: expected ip:port")
    return host, int(port)


def _numbering(tokens: set[str]) -> dict[str, int]:
    if all(token.isdigit() for token in tokens):
        return {token: int(token) for token in tokens}
    return {token: number for number, token in enumerate(sorted(tokens), 1)}


def export_ring(mapping: Meta0PrefixMapping, version: int = 0) -> RingData:
    """The ring of a complete mapping; :class:`Meta0Error` if a base lacks replicas or
    a service has no usable address or device name."""
    used = sorted({sid for slots in mapping.raw_services_by_base.values() for sid in slots}
                  | set(mapping.services))
    missing = [sid for sid in used if sid not in mapping.services]
    if missing:
        raise Meta0Error(f"no description (address, location) of services {missing[:5]}")
    locs = {sid: mapping.parsed_loc(sid) for sid in used}
    regions = _numbering({loc[0] for loc in locs.values()})
    zones = _numbering({loc[1] for loc in locs.values()})
    devs: list[Device | None] = []
    dev_ids: dict[str, int] = {}
    for sid in used:
        svc = mapping.services[sid]
        ip, port = split_addr(svc.get("addr"))
        loc = locs[sid]
        score = mapping.get_score(sid)
        meta = json.dumps({"id": sid, "loc": mapping.get_loc(sid), "score": score},
                          sort_keys=True, separators=(",", ":"))
        try:
            dev = normalize_device({
                "id": len(devs), "region": regions[loc[0]], "zone": zones[loc[1]],
                "ip": ip, "port": port, "device": svc.get("device") or loc[3],
                "weight": 1.0 if score > 0 else 0.0, "meta": meta})
        except RingBuilderError as err:
            raise Meta0Error(f"service {sid} cannot be a ring device: {err}") from None
        dev_ids[sid] = dev["id"]
        devs.append(dev)
    tables = [array("H") for _ in range(mapping.replicas)]
    for base in generate_prefixes(mapping.digits):
        slots = mapping.raw_services_by_base.get(base, [])
        if len(slots) != mapping.replicas:
            raise Meta0Error(f"base {base} has {len(slots)} services, the ring needs "
                             f"{mapping.replicas}: bootstrap or repair the mapping first")
        for table, sid in zip(tables, slots, strict=True):
            table.append(dev_ids[sid])
    return RingData(tables, devs, 32 - _BITS_PER_DIGIT * mapping.digits, version)


def _token(value: object) -> str:
    return str(value).replace(".", "_")


def _service_of(dev: Device) -> dict[str, Any]:
    ip, port, name = dev["ip"], dev["port"], dev["device"]
    addr = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    try:
        meta = json.loads(dev.get("meta") or "")
    except ValueError:
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("id"), str) and meta.get("loc"):
        return {"id": meta["id"], "addr": addr, "device": name,
                "score": int(meta.get("score", 0)), "tags": {"tag.loc": str(meta["loc"])}}
    loc = ".".join(_token(v) for v in (dev["region"], dev["zone"], addr, name))
    return {"id": f"{addr}/{name}", "addr": addr, "device": name,
            "score": 100 if dev.get("weight", 0) > 0 else 0, "tags": {"tag.loc": loc}}


def import_ring(ring: RingData, meta0_client: Any = None, min_dist: int = 1,
                **kwargs: Any) -> Meta0PrefixMapping:
    """The mapping a ring describes, with its devices as the services.

    :class:`Meta0Error` if the part power is not a whole number of hex digits (0, 4, 8,
    12 or 16).
    """
    power = ring.part_power
    if power % _BITS_PER_DIGIT or power > _BITS_PER_DIGIT * PREFIX_DIGITS:
        raise Meta0Error(f"a ring of part power {power} is no meta0 mapping: the part "
                         "power must be 0, 4, 8, 12 or 16 (4 bits per hex digit)")
    services: dict[int, dict[str, Any]] = {}
    for dev in ring.devs:
        if dev is not None:
            services[dev["id"]] = _service_of(dev)
    mapping = Meta0PrefixMapping(meta0_client, replicas=ring.replica_count,
                                 digits=power // _BITS_PER_DIGIT, min_dist=min_dist,
                                 services=list(services.values()), **kwargs)
    for part, base in enumerate(generate_prefixes(mapping.digits)):
        mapping.assign_services(base, [services[table[part]]["id"]
                                       for table in ring.replica2part2dev_id])
    return mapping
