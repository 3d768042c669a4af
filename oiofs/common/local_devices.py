"""Which ring devices belong to this server: the daemons' view of "local".

A replicator or auditor works on the devices of the server it runs beside. A ring device is
that server's when its address is one of this machine's addresses *and* its port is the
server's ``bind_port``. The port matters: an all-in-one cluster runs every node on
127.0.0.1 with different ports, and one machine may run several servers of a type.

>>> ips = whataremyips("0.0.0.0")                       # doctest: +SKIP
>>> [d["device"] for d in local_devices(ring, ips, 6200)]  # doctest: +SKIP
['sdb', 'sdc']

A device matches on its ``ip``/``port`` or on its ``replication_ip``/``replication_port``
(a node may take replication traffic on a separate network).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import netifaces

from oiofs.common.ring.devices import Device


@runtime_checkable
class HasDevs(Protocol):
    """A ring: its devices by id, ``None`` for unused ids."""

    @property
    def devs(self) -> list[Device | None]: ...


#: bind addresses that mean "every address of this machine"
WILDCARD_IPS = frozenset({"", "0.0.0.0", "::", "*"})


def _canonical(address: str) -> str:
    """An address in canonical form (scope id dropped); host names lower-cased as is."""
    text = address.strip().strip("[]").split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()


def machine_ips() -> set[str]:
    """Every IPv4 and IPv6 address configured on this machine's interfaces."""
    ips: set[str] = set()
    for interface in netifaces.interfaces():
        try:
            families = netifaces.ifaddresses(interface)
        except ValueError:  # the interface went away while we looked
            continue
        for family in (netifaces.AF_INET, netifaces.AF_INET6):
            for entry in families.get(family, ()):
                if entry.get("addr"):
                    ips.add(_canonical(entry["addr"]))
    return ips


def whataremyips(bind_ip: str | None = None) -> set[str]:
    """The addresses a server bound to ``bind_ip`` answers on.

    A wildcard (``0.0.0.0``, ``::``, empty or ``None``) means every address of the
    machine; a specific address means just that one.
    """
    if bind_ip is None or bind_ip.strip() in WILDCARD_IPS:
        return machine_ips()
    return {_canonical(bind_ip)}


def _resolve(host: str) -> set[str]:
    """Addresses of a host name in a ring (rings may name hosts instead of addresses)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set()
    return {_canonical(str(info[4][0])) for info in infos}  # str for IPv4/IPv6 already


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def is_local_device(dev: Device | None, my_ips: set[str], my_port: int) -> bool:
    """True if ring device ``dev`` is served at one of ``my_ips`` on ``my_port``."""
    if not dev:
        return False
    for ip_key, port_key in (("ip", "port"), ("replication_ip", "replication_port")):
        ip, port = dev.get(ip_key), dev.get(port_key)
        if ip is None or port is None or int(port) != int(my_port):
            continue
        ip = _canonical(str(ip))
        if ip in my_ips:
            return True
        if not _is_address(ip) and _resolve(ip) & my_ips:
            return True
    return False


def local_devices(devs_or_ring: HasDevs | Iterable[Device | None], my_ips: set[str],
                  my_port: int) -> list[Device]:
    """The devices of a ring (or an iterable of device dicts) that are this server's.

    Each device appears once, in ring order; unused ids (``None``) are skipped.
    """
    devs = devs_or_ring.devs if isinstance(devs_or_ring, HasDevs) else devs_or_ring
    seen: set[str] = set()
    result = []
    for dev in devs:
        if dev is not None and is_local_device(dev, my_ips, my_port) \
                and dev["device"] not in seen:
            seen.add(dev["device"])
            result.append(dev)
    return result


def primary_index(nodes: Iterable[Device], device: str, my_ips: set[str],
                  my_port: int) -> int | None:
    """The index among a partition's primaries ``nodes`` of this server's ``device``, or
    ``None`` when it is not one of them (a handoff copy).

    >>> primary_index([{"ip": "10.0.0.1", "port": 1, "device": "d1"},
    ...                {"ip": "10.0.0.2", "port": 1, "device": "d2"}], "d2", {"10.0.0.2"}, 1)
    1
    """
    for index, node in enumerate(nodes):
        if node["device"] == device and is_local_device(node, my_ips, my_port):
            return index
    return None
