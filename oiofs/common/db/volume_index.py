"""Where a volume's index of bases lives and how it is read (written by ``db-indexer``,
:mod:`oiofs.directory.indexer`; served by the db servers' ``volume_index`` admin operation).
"""

from __future__ import annotations

import json
import os
from typing import Any

#: the index file at the root of each volume
INDEX_FILE = "db-index.json"


def index_path(devices: str, device: str) -> str:
    """Where a volume's index lives."""
    return os.path.join(devices, device, INDEX_FILE)


def read_index(devices: str, device: str) -> dict[str, Any] | None:
    """A volume's index, or None if it has none (yet) or it is unreadable."""
    try:
        with open(index_path(devices, device), "rb") as handle:
            index = json.load(handle)
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) else None


def read_indexes(devices: str) -> list[dict[str, Any]]:
    """The index of every volume under ``devices`` that has one."""
    try:
        names = sorted(os.listdir(devices))
    except FileNotFoundError:
        return []
    found = (read_index(devices, name) for name in names)
    return [index for index in found if index is not None]
