"""The ring reader: which devices hold a name, and where to go when they fail.

>>> ring = Ring("/etc/oiofs", ring_name="object")                    # doctest: +SKIP
>>> part, nodes = ring.get_nodes("AUTH_test", "photos", "cat.jpg")  # doctest: +SKIP
>>> handoffs = ring.get_more_nodes(part)                            # doctest: +SKIP

Servers call :meth:`Ring.get_nodes` on every request, so it does little: one keyed MD5, a
shift, a few table look-ups and dict copies. The ring file is looked at again at most every
``reload_time`` seconds, and reloaded when it was replaced or changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
from collections.abc import Callable, Iterator
from typing import TypeAlias

from oiofs.common.exceptions import RingLoadError
from oiofs.common.hashing import hash_path
from oiofs.common.ring.devices import Device
from oiofs.common.ring.ringdata import RingData

_TOP_WORD = struct.Struct(">I")
# Walk the partitions with an odd stride: with a power-of-two partition count every
# partition is visited once, and neighbours of a partition are not all the next ones.
_STRIDE = 0x9E3779B1

logger = logging.getLogger("oiofs.ring")

#: What identifies one version of the ring file: device, inode, size, mtime (ns).
_Signature: TypeAlias = tuple[int, int, int, int]
#: One handoff stage: does a device open a new domain, how many are used, how many exist.
_Stage: TypeAlias = tuple[Callable[[Device], bool], Callable[[], int], int]


def _table_dev(devs: list[Device | None], dev_id: int) -> Device:
    """The device a replica table names (``RingData.from_bytes`` checked it exists)."""
    dev = devs[dev_id]
    if dev is None:  # never for a loaded ring: RingData refuses such a table
        raise RingLoadError(f"the ring table names the unused device id {dev_id}")
    return dev


class _State:
    """One loaded ring, immutable once built (swapped whole on reload)."""

    def __init__(self, data: RingData, signature: _Signature):
        self.signature = signature
        self.data = data
        self.tables = data.replica2part2dev_id
        self.devs = data.devs
        self.part_shift = data.part_shift
        self.replica_count = data.replica_count
        self.partition_count = data.partition_count
        #: per replica index, per device id: the node dict for that replica.
        self.nodes = [[None if dev is None else dict(dev, index=r) for dev in data.devs]
                      for r in range(self.replica_count)]
        in_use: set[int] = set()
        for table in self.tables:
            in_use.update(table)
        used_devs = [_table_dev(data.devs, i) for i in in_use]
        # How many distinct domains hold data: a handoff stage ends once all are used.
        self.region_count = len({d["region"] for d in used_devs})
        self.zone_count = len({(d["region"], d["zone"]) for d in used_devs})
        self.host_count = len({(d["region"], d["zone"], d["ip"], d["port"])
                               for d in used_devs})
        self.dev_count = len(used_devs)


class Ring:
    """Read-only view of a ring file, reloaded when the file changes.

    ``Ring("/etc/oiofs/object.ring.gz")`` or ``Ring("/etc/oiofs", ring_name="object")``.
    Raises :class:`RingLoadError` if the file is missing or bad. A later reload that fails
    keeps the ring already loaded (and is retried at the next check).
    """

    def __init__(self, path: str, ring_name: str | None = None, reload_time: float = 15.0):
        if ring_name is not None:
            path = os.path.join(path, f"{ring_name}.ring.gz")
        elif os.path.isdir(path):
            raise RingLoadError(f"{path} is a directory: give a ring_name")
        self.serialized_path = path
        self.reload_time = reload_time
        self._state = self._read()
        self._next_check = time.monotonic() + reload_time

    # --- loading --------------------------------------------------------------------

    def _read(self) -> _State:
        try:
            with open(self.serialized_path, "rb") as handle:
                # The signature comes from the open file, so it matches what is read even
                # if the file is replaced meanwhile.
                st = os.fstat(handle.fileno())
                raw = handle.read()
        except OSError as err:
            raise RingLoadError(
                f"cannot read ring {self.serialized_path}: {err.strerror or err}") from None
        signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        return _State(RingData.from_bytes(raw, source=self.serialized_path), signature)

    def _signature(self) -> _Signature | None:
        try:
            st = os.stat(self.serialized_path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def has_changed(self) -> bool:
        """True if the file on disk is not the one loaded (stat now, no timer)."""
        signature = self._signature()
        return signature is not None and signature != self._state.signature

    def reload(self) -> bool:
        """Reload now if the file changed; True if a new ring was loaded."""
        self._next_check = time.monotonic() + self.reload_time
        if not self.has_changed():
            return False
        try:
            self._state = self._read()
        except RingLoadError as err:
            logger.error("keeping the loaded ring: %s", err)
            return False
        return True

    def _check(self) -> _State:
        if time.monotonic() >= self._next_check:
            self.reload()
        return self._state

    # --- attributes -----------------------------------------------------------------

    @property
    def replica_count(self) -> int:
        """Replicas per partition."""
        return self._check().replica_count

    @property
    def partition_count(self) -> int:
        """Number of partitions."""
        return self._check().partition_count

    @property
    def part_power(self) -> int:
        """Bits of the hash that pick the partition."""
        return 32 - self._check().part_shift

    @property
    def devs(self) -> list[Device | None]:
        """Devices by id (``None`` for unused ids)."""
        return self._check().devs

    @property
    def version(self) -> int:
        """Build version of the loaded ring (grows with each rebalance that changed it)."""
        return self._check().data.version

    # --- look-ups -------------------------------------------------------------------

    def get_part(self, account: str, container: str | None = None,
                 obj: str | None = None) -> int:
        """The partition of ``/account[/container[/object]]``: top bits of its hash."""
        digest = hash_path(account, container, obj, raw_digest=True)
        word: int = _TOP_WORD.unpack_from(digest)[0]
        return word >> self._state.part_shift

    def get_nodes(self, account: str, container: str | None = None,
                  obj: str | None = None) -> tuple[int, list[Device]]:
        """``(partition, primary nodes)`` for a name; each node dict has its ``index``."""
        state = self._check()
        digest = hash_path(account, container, obj, raw_digest=True)
        word: int = _TOP_WORD.unpack_from(digest)[0]
        part = word >> state.part_shift
        return part, self._primaries(state, part)

    def get_part_nodes(self, part: int) -> list[Device]:
        """Primary nodes of a partition, replica ``index`` order, each device once."""
        return self._primaries(self._check(), part)

    @staticmethod
    def _primaries(state: _State, part: int) -> list[Device]:
        nodes = state.nodes
        ids = [table[part] for table in state.tables]
        if len(set(ids)) == len(ids):
            return [_table_dev(nodes[r], dev_id).copy() for r, dev_id in enumerate(ids)]
        seen: set[int] = set()
        result: list[Device] = []
        for r, dev_id in enumerate(ids):
            if dev_id not in seen:  # more replicas than devices: list a device once
                seen.add(dev_id)
                result.append(_table_dev(nodes[r], dev_id).copy())
        return result

    def get_more_nodes(self, part: int) -> Iterator[Device]:
        """Handoff nodes for a partition, best first, lazily; each has ``handoff_index``.

        First devices in regions the primaries do not use, then in unused zones, then on
        unused hosts, then any other device holding data; never a primary, never twice.
        The order is fixed for a given ring and partition, and devices are met in
        proportion to how many partitions they hold. Handoff dicts have ``index`` None.
        """
        state = self._check()
        if not 0 <= part < state.partition_count:
            raise ValueError(f"partition {part} is not in 0..{state.partition_count - 1}")
        return self._handoffs(state, part)

    @staticmethod
    def _handoffs(state: _State, part: int) -> Iterator[Device]:
        devs = state.devs
        used_ids = {table[part] for table in state.tables}
        primaries = [_table_dev(devs, i) for i in used_ids]
        regions = {d["region"] for d in primaries}
        zones = {(d["region"], d["zone"]) for d in primaries}
        hosts = {(d["region"], d["zone"], d["ip"], d["port"]) for d in primaries}
        count = state.partition_count
        seed = hashlib.md5(_TOP_WORD.pack(part), usedforsecurity=False).digest()
        start = _TOP_WORD.unpack_from(seed)[0] % count
        stride = _STRIDE % count or 1
        handoff_index = 0
        # Stages: a new region, a new zone, a new host, any new device.
        stages: tuple[_Stage, ...] = ((lambda d: d["region"] not in regions, lambda: len(regions),
                   state.region_count),
                  (lambda d: (d["region"], d["zone"]) not in zones, lambda: len(zones),
                   state.zone_count),
                  (lambda d: (d["region"], d["zone"], d["ip"], d["port"]) not in hosts,
                   lambda: len(hosts), state.host_count),
                  (lambda d: True, lambda: len(used_ids), state.dev_count))
        for wanted, used, total in stages:
            if used() >= total:
                continue
            handoff_part = start
            for _ in range(count):
                for table in state.tables:
                    dev_id = table[handoff_part]
                    if dev_id in used_ids:
                        continue
                    dev = _table_dev(devs, dev_id)
                    if not wanted(dev):
                        continue
                    used_ids.add(dev_id)
                    regions.add(dev["region"])
                    zones.add((dev["region"], dev["zone"]))
                    hosts.add((dev["region"], dev["zone"], dev["ip"], dev["port"]))
                    yield dict(dev, handoff_index=handoff_index, index=None)
                    handoff_index += 1
                if used() >= total:
                    break
                handoff_part = (handoff_part + stride) % count
