"""The ring builder: the operator's record of devices, and the rebalance that places replicas.

A builder is saved as JSON (``<name>.builder``) and produces the ring file that servers
read (``<name>.ring.gz``, see :mod:`oiofs.common.ring.ringdata`). Typical use::

    builder = RingBuilder(part_power=10, replicas=3, min_part_hours=1)
    builder.add_dev({"region": 1, "zone": 1, "ip": "10.0.0.1", "port": 6200,
                     "device": "sdb", "weight": 100})
    ...
    parts_moved, balance, removed = builder.rebalance(seed=1)
    builder.save("object.builder")
    builder.get_ring().save("object.ring.gz")

The placement rules live in :mod:`oiofs.common.ring.placement`.
"""

from __future__ import annotations

import base64
import json
import random
import sys
import time
from array import array
from typing import Any

from oiofs.common.exceptions import RingBuilderError, RingLoadError, RingValidationError
from oiofs.common.fsutils import write_file_atomic
from oiofs.common.ring import placement
from oiofs.common.ring.devices import (
    MAX_DEV_ID,
    Device,
    format_device,
    normalize_device,
    normalize_weight,
    ring_dev,
)
from oiofs.common.ring.placement import NONE, Placer, Topology
from oiofs.common.ring.ringdata import MAX_PART_POWER, PartTable, RingData
from oiofs.common.ring.search import matches, parse_search_value

BUILDER_FORMAT = "oiofs-ring-builder"
BUILDER_FORMAT_VERSION = 1
#: Balance reported for a device that holds replicas but should hold none.
MAX_BALANCE = 999.99


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` (operator or file input, of any type) as an int within the bounds."""
    number: int
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise RingBuilderError(f"{name} must be an integer, not {value!r}") from None
    else:
        number = value
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise RingBuilderError(f"{name} must be {bound}, not {number}")
    return number


def _pack(table: PartTable) -> str:
    data = array(table.typecode, table)
    if sys.byteorder != "little":
        data.byteswap()
    return base64.b64encode(data.tobytes()).decode("ascii")


def _unpack(typecode: str, text: str, length: int, what: str) -> PartTable:
    data = array(typecode)
    try:
        data.frombytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise RingBuilderError(f"{what} is not valid base64 data") from None
    if sys.byteorder != "little":
        data.byteswap()
    if len(data) != length:
        raise RingBuilderError(f"{what} has {len(data)} entries, not {length}")
    return data


class RingBuilder:
    """Devices, partition power, replica count, and the current replica placement.

    Device changes (:meth:`add_dev`, :meth:`remove_dev`, :meth:`set_dev_weight`) take
    effect at the next :meth:`rebalance`, which moves as few replicas as it can.
    """

    def __init__(self, part_power: int, replicas: int, min_part_hours: int):
        self.part_power = _check_int("part_power", part_power, 0, MAX_PART_POWER)
        self.replicas = _check_int("replicas", replicas, 1, 255)
        self.min_part_hours = _check_int("min_part_hours", min_part_hours, 0, 65535)
        self.devs: list[Device | None] = []
        self.version = 0
        #: True when devices changed since the last rebalance.
        self.devs_changed = False
        #: Messages from the last rebalance an operator should read (e.g. too few devices).
        self.warnings: list[str] = []
        self._remove_ids: set[int] = set()
        self._replica2part2dev: list[PartTable] | None = None
        #: Per partition, the minute (since the epoch) of its last move; 0 = long ago.
        self._last_move: PartTable = array("I", bytes(4 * self.partition_count))

    # --- shape ----------------------------------------------------------------------

    @property
    def partition_count(self) -> int:
        """Number of partitions, ``2 ** part_power``."""
        return 1 << self.part_power

    @property
    def ever_rebalanced(self) -> bool:
        """True once :meth:`rebalance` has placed replicas."""
        return self._replica2part2dev is not None

    def set_min_part_hours(self, hours: int) -> None:
        """Change how long a moved partition stays put."""
        self.min_part_hours = _check_int("min_part_hours", hours, 0, 65535)

    def set_replicas(self, replicas: int) -> None:
        """Change the replica count; the next rebalance adds or drops replicas."""
        replicas = _check_int("replicas", replicas, 1, 255)
        if replicas != self.replicas:
            self.replicas = replicas
            self.devs_changed = True

    # --- devices --------------------------------------------------------------------

    def _live_devs(self) -> list[Device]:
        return [dev for dev in self.devs if dev is not None]

    def get_dev(self, dev_id: int) -> Device:
        """The device with id ``dev_id``; :class:`RingBuilderError` if there is none."""
        dev = (self.devs[dev_id] if isinstance(dev_id, int) and 0 <= dev_id < len(self.devs)
               else None)
        if dev:
            return dev
        raise RingBuilderError(f"no device with id {dev_id!r}")

    def add_dev(self, dev: Device) -> int:
        """Add a device (region, zone, ip, port, device, weight[, meta, id]); its id.

        Without an ``id``, the lowest free one is used. The same ``ip:port/device`` cannot
        be added twice.
        """
        dev = normalize_device(dev)
        # A device being removed may share its address with its replacement.
        others = [] if dev.get("id") in self._remove_ids else self._live_devs()
        for other in others:
            if (other["ip"], other["port"], other["device"]) == (dev["ip"], dev["port"],
                                                                  dev["device"]) \
                    and other["id"] not in self._remove_ids:
                raise RingBuilderError(
                    f"device {format_device(other)} already uses "
                    f"{dev['ip']}:{dev['port']}/{dev['device']}")
        if "id" in dev:
            if dev["id"] < len(self.devs) and self.devs[dev["id"]] is not None:
                raise RingBuilderError(f"device id {dev['id']} is already in use")
        else:
            free = [i for i, other in enumerate(self.devs) if other is None]
            dev["id"] = free[0] if free else len(self.devs)
            if dev["id"] > MAX_DEV_ID:
                raise RingBuilderError(f"too many devices (ids stop at {MAX_DEV_ID})")
        dev_id: int = dev["id"]
        self.devs.extend([None] * (dev_id + 1 - len(self.devs)))
        self.devs[dev_id] = dev
        self.devs_changed = True
        return dev_id

    def remove_dev(self, dev_id: int) -> Device:
        """Schedule a device's removal; its replicas move at the next rebalance."""
        dev = self.get_dev(dev_id)
        if dev_id not in self._remove_ids:
            dev["weight"] = 0.0
            self._remove_ids.add(dev_id)
            self.devs_changed = True
        return dev

    def set_dev_weight(self, dev_id: int, weight: float) -> Device:
        """Change a device's weight (0 drains it); applied at the next rebalance."""
        dev = self.get_dev(dev_id)
        if dev_id in self._remove_ids:
            raise RingBuilderError(f"device {format_device(dev)} is being removed")
        weight = normalize_weight(weight)
        if weight != dev["weight"]:
            dev["weight"] = weight
            self.devs_changed = True
        return dev

    def is_removing(self, dev_id: int) -> bool:
        """True if the device is scheduled for removal at the next rebalance."""
        return dev_id in self._remove_ids

    def search_devs(self, search: str | Device) -> list[Device]:
        """Devices matching a search value (``"r1z2-10.0.0.1/sdb"``, see
        :mod:`oiofs.common.ring.search`) or a dict of ``{key: value}`` criteria."""
        criteria = parse_search_value(search) if isinstance(search, str) else dict(search)
        return [dev for dev in self._live_devs() if matches(dev, criteria)]

    # --- rebalance ------------------------------------------------------------------

    def _topology(self) -> Topology:
        live = self._live_devs()
        active = [d for d in live if d["weight"] > 0 and d["id"] not in self._remove_ids]
        holding = [d for d in live if d not in active]
        return Topology(active, holding, self.replicas, self.partition_count)

    def _resize_tables(self) -> list[PartTable]:
        """The replica tables (made if missing), one per replica; each partition NONE
        in a new one."""
        if self._replica2part2dev is None:
            self._replica2part2dev = []
        tables = self._replica2part2dev
        del tables[self.replicas:]  # fewer replicas: the last ones go
        while len(tables) < self.replicas:
            tables.append(array("H", [NONE]) * self.partition_count)
        return tables

    def rebalance(self, seed: int | None = None, *, now: float | None = None
                  ) -> tuple[int, float, list[Device]]:
        """Place replicas after device changes; ``(parts_moved, balance, removed_devs)``.

        ``parts_moved`` counts partitions with at least one replica on a new device,
        ``balance`` is :meth:`get_balance`, ``removed_devs`` the devices removed for good.
        The same seed on the same builder gives the same placement. ``now`` (seconds since
        the epoch) is for tests driving ``min_part_hours``.
        """
        topology = self._topology()
        if not topology.active_ids:
            raise RingBuilderError("no device with a weight above 0: nothing can hold data")
        self.warnings = []
        if self.replicas > len(topology.active_ids):
            self.warnings.append(
                f"{self.replicas} replicas but only {len(topology.active_ids)} devices with "
                "weight: some partitions have several replicas on one device")
        tables = self._resize_tables()
        before = [array("H", table) for table in tables]
        for table in tables:
            for part, dev_id in enumerate(table):
                if dev_id != NONE and (dev_id >= len(self.devs) or self.devs[dev_id] is None
                                       or dev_id in self._remove_ids):
                    table[part] = NONE  # forced: that copy is gone
        now_minute = int((time.time() if now is None else now) // 60)
        rng = random.Random(seed)
        Placer(tables, topology, self._last_move, now_minute, self.min_part_hours * 60,
               rng).run()
        moved = 0
        for part in range(self.partition_count):
            if any(old[part] != new[part] for old, new in zip(before, tables, strict=True)):
                self._last_move[part] = now_minute
                moved += 1
        removed = []
        for dev_id in sorted(self._remove_ids):
            removed.append(self.get_dev(dev_id))  # remove_dev and from_dict checked it
            self.devs[dev_id] = None
        self._remove_ids.clear()
        while self.devs and self.devs[-1] is None:
            self.devs.pop()
        if moved or removed or self.devs_changed:
            self.version += 1
        self.devs_changed = False
        return moved, self.get_balance(), removed

    def pretend_min_part_hours_passed(self) -> None:
        """Forget when partitions last moved, so the next rebalance may move any of them."""
        self._last_move = array("I", bytes(4 * self.partition_count))

    def min_part_seconds_left(self, now: float | None = None) -> int:
        """Seconds until every partition may move again (0 if they all may)."""
        if not self.min_part_hours:
            return 0
        now_minute = int((time.time() if now is None else now) // 60)
        newest = max(self._last_move) if self._last_move else 0
        return max(0, (newest + self.min_part_hours * 60 - now_minute) * 60)

    # --- reports --------------------------------------------------------------------

    def dev_part_counts(self) -> dict[int, int]:
        """Replicas held by each device id."""
        counts = {dev["id"]: 0 for dev in self._live_devs()}
        for table in self._replica2part2dev or []:
            for dev_id in table:
                if dev_id in counts:
                    counts[dev_id] += 1
        return counts

    def dev_balances(self) -> dict[int, float]:
        """Per device, in percent, how far its replica count is from its weight's share."""
        topology = self._topology()
        counts = self.dev_part_counts()
        balances: dict[int, float] = {}
        for dev_id, count in counts.items():
            target = topology.targets.get(dev_id, 0.0)
            if target > 0:
                balances[dev_id] = 100.0 * count / target - 100.0
            else:
                balances[dev_id] = MAX_BALANCE if count else 0.0
        return balances

    def get_balance(self) -> float:
        """The worst device balance (absolute, percent); 0 is perfect."""
        balances = self.dev_balances()
        return max((abs(value) for value in balances.values()), default=0.0)

    def dispersion_report(self) -> dict[str, float]:
        """Partitions whose replicas are closer together than the topology requires.

        See :func:`oiofs.common.ring.placement.dispersion_report`.
        """
        active = [d for d in self._live_devs()
                  if d["weight"] > 0 and d["id"] not in self._remove_ids]
        devs = [d if d is None or d in active else dict(d, weight=0.0) for d in self.devs]
        return placement.dispersion_report(self._replica2part2dev or [], devs, self.replicas)

    def get_dispersion(self) -> float:
        """Percentage of partitions badly dispersed (0 is best)."""
        return self.dispersion_report()["percent"]

    # --- checks and output ----------------------------------------------------------

    def validate(self) -> None:
        """Check the placement; :class:`RingValidationError` says what is wrong.

        Every replica of every partition is on an existing device not being removed, and
        no partition has two replicas on one device unless there are fewer devices with
        weight than replicas.
        """
        if self._replica2part2dev is None:
            raise RingValidationError("the builder was never rebalanced")
        tables = self._replica2part2dev
        if len(tables) != self.replicas:
            raise RingValidationError(
                f"{len(tables)} replica tables for {self.replicas} replicas: rebalance")
        if any(len(table) != self.partition_count for table in tables):
            raise RingValidationError("a replica table has the wrong number of partitions")
        weighted = sum(1 for d in self._live_devs()
                       if d["weight"] > 0 and d["id"] not in self._remove_ids)
        for part in range(self.partition_count):
            dev_ids = [table[part] for table in tables]
            for dev_id in dev_ids:
                if dev_id == NONE:
                    raise RingValidationError(f"partition {part} has an unassigned replica")
                if dev_id >= len(self.devs) or self.devs[dev_id] is None:
                    raise RingValidationError(
                        f"partition {part} is on unknown device {dev_id}")
                if dev_id in self._remove_ids:
                    raise RingValidationError(
                        f"partition {part} is on device {dev_id}, which is being removed")
            if len(set(dev_ids)) < min(len(dev_ids), weighted):
                raise RingValidationError(
                    f"partition {part} has two replicas on one device: {dev_ids}")

    def get_ring(self) -> RingData:
        """The ring servers read, from the current placement."""
        if self._replica2part2dev is None or len(self._replica2part2dev) != self.replicas:
            raise RingBuilderError("the builder must be rebalanced before writing a ring")
        devs = [None if dev is None else ring_dev(dev) for dev in self.devs]
        return RingData([array("H", t) for t in self._replica2part2dev], devs,
                        32 - self.part_power, self.version)

    # --- files ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The builder as JSON-ready data."""
        tables = self._replica2part2dev
        return {
            "format": BUILDER_FORMAT, "format_version": BUILDER_FORMAT_VERSION,
            "part_power": self.part_power, "replicas": self.replicas,
            "min_part_hours": self.min_part_hours, "version": self.version,
            "devs_changed": self.devs_changed, "devs": self.devs,
            "remove_devs": sorted(self._remove_ids),
            "replica2part2dev": None if tables is None else [_pack(t) for t in tables],
            "last_move_minutes": _pack(self._last_move),
        }

    def save(self, path: str) -> None:
        """Write the builder file atomically (temp file, fsync, rename)."""
        data = json.dumps(self.to_dict(), sort_keys=True, indent=1).encode("utf-8")
        write_file_atomic(path, data + b"\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "builder") -> RingBuilder:
        """A builder from :meth:`to_dict` data; :class:`RingLoadError` if it is bad."""
        if not isinstance(data, dict) or data.get("format") != BUILDER_FORMAT:
            raise RingLoadError(f"{source}: not an oiofs builder file")
        if data.get("format_version") != BUILDER_FORMAT_VERSION:
            raise RingLoadError(f"{source}: unknown builder format version "
                                f"{data.get('format_version')!r}")
        try:
            builder = cls(data["part_power"], data["replicas"], data["min_part_hours"])
            builder.version = int(data.get("version", 0))
            builder._remove_ids = {int(i) for i in data.get("remove_devs") or []}
            for dev in data.get("devs") or []:
                if dev is not None:
                    builder.add_dev(dev)
            for dev_id in builder._remove_ids:
                builder.get_dev(dev_id)
            tables = data.get("replica2part2dev")
            if tables is not None:
                builder._replica2part2dev = [
                    _unpack("H", text, builder.partition_count, "replica table")
                    for text in tables]
            if data.get("last_move_minutes"):
                builder._last_move = _unpack("I", data["last_move_minutes"],
                                             builder.partition_count, "last moves")
        except (KeyError, TypeError, ValueError, RingBuilderError) as err:
            raise RingLoadError(f"{source}: bad builder file ({err})") from None
        builder.devs_changed = bool(data.get("devs_changed", False))
        return builder

    @classmethod
    def load(cls, path: str) -> RingBuilder:
        """Read a builder file written by :meth:`save`."""
        try:
            with open(path, "rb") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise RingLoadError(f"builder file {path} does not exist") from None
        except OSError as err:
            raise RingLoadError(f"cannot read builder file {path}: {err.strerror}") from None
        except ValueError as err:
            raise RingLoadError(f"{path}: not a builder file ({err})") from None
        return cls.from_dict(data, source=path)

