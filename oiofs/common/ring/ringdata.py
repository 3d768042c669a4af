"""The ring file ``<name>.ring.gz``: what the servers read to place names on devices.

Format (gzip, header ``mtime`` 0 and no file name, so equal content gives equal bytes)::

    b"OIOFSRG1"                      8-byte magic and format version
    uint32 big-endian                length N of the header
    N bytes of JSON (UTF-8, keys sorted, no spaces)
        {"devs": [device dict or null, ...],   # list index == device id
         "part_power": P, "part_shift": 32 - P,
         "replica_count": R, "version": V}
    R tables of 2**P little-endian uint16  replica r, partition p -> device id

No pickle: loading a ring never runs code. Files are replaced atomically (temp file, fsync,
rename, fsync of the directory), so a reader sees the old ring or the new one, never a mix.
"""

from __future__ import annotations

import gzip
import json
import struct
import sys
import zlib
from array import array
from typing import TypeAlias

from oiofs.common.exceptions import RingLoadError
from oiofs.common.fsutils import write_file_atomic
from oiofs.common.ring.devices import RING_DEV_KEYS, Device

MAGIC = b"OIOFSRG1"
_HEADER_LEN = struct.Struct(">I")
_MAX_HEADER = 64 * 1024 * 1024
MAX_PART_POWER = 24

#: One replica's table: partition -> device id, unsigned 16-bit (``array("H")``).
PartTable: TypeAlias = "array[int]"


def _le_bytes(table: PartTable) -> bytes:
    if sys.byteorder == "little":
        return table.tobytes()
    swapped = array("H", table)
    swapped.byteswap()
    return swapped.tobytes()


def _table_from_le(data: bytes) -> PartTable:
    table = array("H")
    table.frombytes(data)
    if sys.byteorder != "little":
        table.byteswap()
    return table


class RingData:
    """The content of a ring: devices and the replica -> partition -> device id table.

    ``replica2part2dev_id[r][p]`` is the id of the device holding replica ``r`` of
    partition ``p``; ``devs[id]`` is that device's dict (``None`` for unused ids).
    """

    def __init__(self, replica2part2dev_id: list[PartTable], devs: list[Device | None],
                 part_shift: int, version: int = 0):
        self.replica2part2dev_id = replica2part2dev_id
        self.devs = devs
        self.part_shift = part_shift
        self.version = version

    @property
    def part_power(self) -> int:
        """Number of bits of the hash that pick the partition."""
        return 32 - self.part_shift

    @property
    def replica_count(self) -> int:
        """Number of replicas of each partition."""
        return len(self.replica2part2dev_id)

    @property
    def partition_count(self) -> int:
        """Number of partitions (``2 ** part_power``)."""
        return len(self.replica2part2dev_id[0]) if self.replica2part2dev_id else 0

    # --- bytes ----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The gzip file content; identical content always gives identical bytes."""
        devs = [None if dev is None else {k: dev[k] for k in RING_DEV_KEYS if k in dev}
                for dev in self.devs]
        header = json.dumps({"devs": devs, "part_power": self.part_power,
                             "part_shift": self.part_shift,
                             "replica_count": self.replica_count, "version": self.version},
                            sort_keys=True, separators=(",", ":")).encode("utf-8")
        chunks = [MAGIC, _HEADER_LEN.pack(len(header)), header]
        chunks.extend(_le_bytes(table) for table in self.replica2part2dev_id)
        # mtime=0 and no file name in the gzip header: the bytes depend on content only.
        return gzip.compress(b"".join(chunks), compresslevel=6, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "ring") -> RingData:
        """Parse and check a ring file's content; :class:`RingLoadError` if it is bad."""
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise RingLoadError(f"{source}: not a gzip ring file ({err})") from None
        if raw[:len(MAGIC)] != MAGIC:
            raise RingLoadError(f"{source}: not an oiofs ring file (bad magic)")
        offset = len(MAGIC)
        if len(raw) < offset + _HEADER_LEN.size:
            raise RingLoadError(f"{source}: truncated ring file")
        (header_len,) = _HEADER_LEN.unpack_from(raw, offset)
        offset += _HEADER_LEN.size
        if header_len > _MAX_HEADER or len(raw) < offset + header_len:
            raise RingLoadError(f"{source}: truncated or bad ring header")
        try:
            header = json.loads(raw[offset:offset + header_len])
            part_power = int(header["part_power"])
            replicas = int(header["replica_count"])
            devs = header["devs"]
            version = int(header.get("version", 0))
        except (ValueError, KeyError, TypeError) as err:
            raise RingLoadError(f"{source}: bad ring header ({err})") from None
        if not 0 <= part_power <= MAX_PART_POWER or replicas < 1 or not isinstance(devs, list):
            raise RingLoadError(f"{source}: bad ring header values")
        if header.get("part_shift", 32 - part_power) != 32 - part_power:
            raise RingLoadError(f"{source}: part_shift does not match part_power")
        offset += header_len
        size = 2 << part_power  # bytes per replica table
        if len(raw) != offset + replicas * size:
            raise RingLoadError(f"{source}: table size does not match the header")
        tables = [_table_from_le(raw[offset + r * size:offset + (r + 1) * size])
                  for r in range(replicas)]
        cls._check(devs, tables, source)
        return cls(tables, devs, 32 - part_power, version)

    @staticmethod
    def _check(devs: list[object], tables: list[PartTable], source: str) -> None:
        for index, dev in enumerate(devs):
            if dev is None:
                continue
            if not isinstance(dev, dict) or dev.get("id") != index:
                raise RingLoadError(f"{source}: device {index} is malformed")
            missing = [key for key in RING_DEV_KEYS if key not in dev]
            if missing:
                raise RingLoadError(f"{source}: device {index} lacks {', '.join(missing)}")
        used: set[int] = set()
        for table in tables:
            used.update(table)
        bad = [dev_id for dev_id in used if dev_id >= len(devs) or devs[dev_id] is None]
        if bad:
            raise RingLoadError(f"{source}: the table names unknown devices {sorted(bad)[:5]}")

    # --- files ----------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Write the ring to ``path`` atomically (temp file, fsync, rename, fsync dir)."""
        write_file_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str) -> RingData:
        """Read a ring file; :class:`RingLoadError` if it is missing or bad."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise RingLoadError(f"cannot read ring {path}: {err.strerror or err}") from None
        return cls.from_bytes(data, source=path)
