"""The recon cache: a node's daemons leave their last pass stats where its servers read them.

Each server type has one JSON file in ``recon_cache_path`` (``object.recon``,
``container.recon``, ``account.recon``), as in Swift. Several daemons write to the same
file (the object replicator, auditor, updater and expirer all to ``object.recon``), so a
write takes the file's lock, merges its entries into what is there (dicts are merged key by
key, an empty dict removes a key), and replaces the file atomically: a reader sees the old
content or the new, never a mix.

>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> cache = os.path.join(tmp.name, "object.recon")
>>> dump_recon_cache(cache, {"object_updater_sweep": 1.5, "stats": {"a": 1, "b": 2}})
>>> dump_recon_cache(cache, {"stats": {"b": 3, "a": {}}})
>>> load_recon_cache(cache)
{'object_updater_sweep': 1.5, 'stats': {'b': 3}}
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from oiofs.common.fsutils import lock_path, write_file_atomic

#: where the recon cache files are kept when ``recon_cache_path`` is not configured
DEFAULT_RECON_CACHE_PATH = "/var/cache/oiofs"


def recon_cache_file(conf: Mapping[str, Any], server_type: str) -> str:
    """The recon cache file of ``server_type`` (``object``...) under ``recon_cache_path``."""
    directory = str(conf.get("recon_cache_path") or DEFAULT_RECON_CACHE_PATH)
    return os.path.join(directory, f"{server_type}.recon")


def merge_entries(current: dict[str, Any], entries: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` updated with ``entries``: nested dicts merged, ``{}`` deletes a key."""
    merged = dict(current)
    for key, value in entries.items():
        if isinstance(value, dict) and not value:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_entries(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_recon_cache(path: str) -> dict[str, Any]:
    """What ``path`` holds; ``{}`` if it is missing or not a JSON object (being replaced)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def dump_recon_cache(path: str, entries: Mapping[str, Any], lock_timeout: float = 5.0) -> None:
    """Merge ``entries`` into the cache file ``path`` under its lock, atomically.

    Raises ``OSError`` (or ``LockTimeout``) if the file cannot be written; a daemon logs it
    and goes on: recon is a view on the node, never a reason to stop working.
    """
    directory = os.path.dirname(path) or "."
    with lock_path(directory, lock_timeout, name=f".{os.path.basename(path)}.lock"):
        merged = merge_entries(load_recon_cache(path), entries)
        write_file_atomic(path, json.dumps(merged, sort_keys=True).encode("utf-8"))
