"""Ring devices: what a device record holds, how it is checked, and its failure domains.

A device is one disk of one storage server, described by a plain dict::

    {"id": 0, "region": 1, "zone": 2, "ip": "10.0.0.5", "port": 6200, "device": "sdb",
     "weight": 100.0, "meta": "", "replication_ip": "10.0.0.5", "replication_port": 6200}

:func:`normalize_device` turns operator input into that form (or raises
:class:`RingBuilderError` with a message fit for an operator). :func:`tiers_of` gives the
nested failure domains a device belongs to -- region, zone, host (``ip:port``), device --
which the builder spreads replicas over and the reader prefers for handoffs.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, TypeAlias

from oiofs.common.exceptions import RingBuilderError

#: Keys a device carries in a ring file, in that order.
RING_DEV_KEYS = ("id", "region", "zone", "ip", "port", "device", "weight", "meta",
                 "replication_ip", "replication_port")

#: Device ids are stored as unsigned 16-bit integers; the top value marks "no device".
MAX_DEV_ID = 0xFFFE

_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")

TIER_NAMES = ("region", "zone", "host", "device")

#: A device record as described above (values are ints, floats and strings by key).
Device: TypeAlias = dict[str, Any]
#: One failure domain of :func:`tiers_of`: region, zone, ip, port, id as far as it goes.
Tier: TypeAlias = tuple[Any, ...]


def normalize_ip(value: object) -> str:
    """An IPv4/IPv6 address (brackets dropped, canonical form) or a lower-case host name."""
    if not isinstance(value, str) or not value.strip():
        raise RingBuilderError(f"invalid ip {value!r}: expected an address or host name")
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    lowered = text.lower()
    if _HOSTNAME.match(lowered) and not lowered.replace(".", "").isdigit():
        return lowered
    raise RingBuilderError(f"invalid ip {value!r}: expected an address or host name")


def _int_field(dev: Device, key: str, minimum: int, maximum: int | None = None) -> int:
    value: Any = dev.get(key)  # operator input: int() refuses what it cannot read
    if isinstance(value, bool):
        raise RingBuilderError(f"invalid {key} {value!r}: expected an integer")
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise RingBuilderError(f"invalid {key} {value!r}: expected an integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise RingBuilderError(f"invalid {key} {number}: must be {bound}")
    return number


def normalize_weight(value: Any) -> float:
    """A device weight: a finite number >= 0."""
    if isinstance(value, bool):
        raise RingBuilderError(f"invalid weight {value!r}: expected a number >= 0")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise RingBuilderError(f"invalid weight {value!r}: expected a number >= 0") from None
    if not math.isfinite(weight) or weight < 0:
        raise RingBuilderError(f"invalid weight {value!r}: expected a number >= 0")
    return weight


def check_device_name(name: object) -> str:
    """A device name usable as the first segment of a backend path."""
    if not isinstance(name, str) or not name:
        raise RingBuilderError(f"invalid device name {name!r}: must not be empty")
    if name in (".", "..") or "/" in name or any(ord(ch) < 33 or ord(ch) == 127 for ch in name):
        raise RingBuilderError(
            f"invalid device name {name!r}: no '/', spaces or control characters, "
            "and not '.' or '..'")
    return name


def normalize_device(dev: Device) -> Device:
    """A validated copy of ``dev`` with every ring key set (id may be absent or None).

    Region defaults to 1; ``replication_ip``/``replication_port`` default to ``ip``/``port``;
    ``meta`` defaults to ``""``.
    """
    if not isinstance(dev, dict):
        raise RingBuilderError("a device must be a dict")
    out: Device = {}
    if dev.get("id") is not None:
        out["id"] = _int_field(dev, "id", 0, MAX_DEV_ID)
    out["region"] = _int_field({"region": dev.get("region", 1)}, "region", 0)
    if dev.get("zone") is None:
        raise RingBuilderError("a device needs a zone")
    out["zone"] = _int_field(dev, "zone", 0)
    if dev.get("ip") is None:
        raise RingBuilderError("a device needs an ip")
    out["ip"] = normalize_ip(dev["ip"])
    if dev.get("port") is None:
        raise RingBuilderError("a device needs a port")
    out["port"] = _int_field(dev, "port", 1, 65535)
    out["device"] = check_device_name(dev.get("device"))
    if dev.get("weight") is None:
        raise RingBuilderError("a device needs a weight")
    out["weight"] = normalize_weight(dev["weight"])
    meta = dev.get("meta") or ""
    if not isinstance(meta, str):
        raise RingBuilderError(f"invalid meta {meta!r}: expected text")
    out["meta"] = meta
    rip = dev.get("replication_ip")
    out["replication_ip"] = normalize_ip(rip) if rip else out["ip"]
    rport = dev.get("replication_port")
    out["replication_port"] = (_int_field(dev, "replication_port", 1, 65535)
                               if rport is not None else out["port"])
    return out


def ring_dev(dev: Device) -> Device:
    """Only the keys a ring file carries, in a fixed order."""
    return {key: dev[key] for key in RING_DEV_KEYS}


def tiers_of(dev: Device) -> tuple[Tier, Tier, Tier, Tier]:
    """The failure domains of ``dev``, widest first: region, zone, host, device.

    Each tier is a tuple that also names its parents, so equal tuples mean the same domain:
    ``((r,), (r, z), (r, z, ip, port), (r, z, ip, port, id))``.
    """
    region = (dev["region"],)
    zone = region + (dev["zone"],)
    host = zone + (dev["ip"], dev["port"])
    return region, zone, host, host + (dev["id"],)


def format_device(dev: Device) -> str:
    """``d<id>r<region>z<zone>-<ip>:<port>/<device>_"<meta>"`` for messages."""
    ip = f"[{dev['ip']}]" if ":" in dev["ip"] else dev["ip"]
    text = f"d{dev['id']}r{dev['region']}z{dev['zone']}-{ip}:{dev['port']}/{dev['device']}"
    return text + (f'_"{dev["meta"]}"' if dev.get("meta") else "")
