"""Operator notation for devices: search values and add values.

A *search value* picks devices by any of these parts, each optional but in this order::

    d<id> r<region> z<zone> -<ip>:<port> R<replication ip>:<port> /<device> _<meta>

for instance ``d3``, ``r1z2``, ``z2-10.0.0.5``, ``-10.0.0.5:6200/sdb``, ``/sdb``,
``_ssd``. The ip may also start the value without ``-`` when it begins with a digit or
``[`` (IPv6 in brackets). Host names are written in lower case. ``meta`` matches as a
substring; every other part must be equal.

An *add value* is a search value that describes a whole device::

    r<region>z<zone>-<ip>:<port>[R<replication ip>:<port>]/<device>[_<meta>]

(region 1 when omitted).
"""

from __future__ import annotations

import re

from oiofs.common.exceptions import RingBuilderError
from oiofs.common.ring.devices import Device, normalize_ip

_NUMBER_PARTS = (("id", re.compile(r"d(\d+)")), ("region", re.compile(r"r(\d+)")),
                 ("zone", re.compile(r"z(\d+)")))
_DASH_HOST = re.compile(r"-(\[[0-9A-Fa-f:.]+\]|[0-9a-z.\-]+?)(?=$|[:/_R])")
_BARE_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|\d[0-9.]*)")
_PORT = re.compile(r":(\d+)")
_REPL = re.compile(r"R(\[[0-9A-Fa-f:.]+\]|[0-9a-z.\-]+?)?(?=$|[:/_])")
_DEVICE = re.compile(r"/([^_]+)")
_META = re.compile(r"_(.*)", re.DOTALL)


def parse_search_value(value: str) -> Device:
    """The criteria named by a search value, as ``{key: value}``.

    Raises :class:`RingBuilderError` when ``value`` is empty or not in the notation.
    """
    if not isinstance(value, str) or not value:
        raise RingBuilderError("empty search value")
    criteria: Device = {}
    pos = 0

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        nonlocal pos
        match = pattern.match(value, pos)
        if match:
            pos = match.end()
        return match

    for key, pattern in _NUMBER_PARTS:
        match = take(pattern)
        if match:
            criteria[key] = int(match.group(1))
    match = take(_DASH_HOST) or take(_BARE_HOST)
    if match:
        criteria["ip"] = normalize_ip(match.group(1))
    match = take(_PORT)
    if match:
        criteria["port"] = int(match.group(1))
    match = take(_REPL)
    if match:
        if match.group(1):
            criteria["replication_ip"] = normalize_ip(match.group(1))
        port = take(_PORT)
        if port:
            criteria["replication_port"] = int(port.group(1))
    match = take(_DEVICE)
    if match:
        criteria["device"] = match.group(1)
    match = take(_META)
    if match:
        criteria["meta"] = match.group(1)
    if pos != len(value) or not criteria:
        raise RingBuilderError(
            f"invalid search value {value!r}: expected "
            "d<id>r<region>z<zone>-<ip>:<port>R<ip>:<port>/<device>_<meta> (parts optional)")
    return criteria


def parse_add_value(value: str) -> Device:
    """A device dict (without weight) from ``r<r>z<z>-<ip>:<port>[R<ip>:<port>]/<dev>[_<meta>]``."""
    try:
        criteria = parse_search_value(value)
    except RingBuilderError:
        criteria = {}
    missing = [key for key in ("zone", "ip", "port", "device") if key not in criteria]
    if not criteria or missing or "id" in criteria:
        raise RingBuilderError(
            f"invalid device {value!r}: expected r<region>z<zone>-<ip>:<port>/<device>"
            "[_<meta>], e.g. r1z1-10.0.0.1:6200/sdb")
    criteria.setdefault("region", 1)
    return criteria


def matches(dev: Device, criteria: Device) -> bool:
    """True if ``dev`` satisfies every criterion (``meta`` as a substring)."""
    for key, wanted in criteria.items():
        if key == "meta":
            if wanted not in (dev.get("meta") or ""):
                return False
        elif dev.get(key) != wanted:
            return False
    return True
