"""Where the meta0 mapping is kept: a small storage interface and its file implementation.

A store holds one JSON document::

    {"mapping": {"0000": ["svc-a", "svc-b", "svc-c"], ...},   # prefix -> service ids
     "services": [{"id": ..., "addr": ..., "score": ..., "tags": {...}}, ...],
     "settings": {"replicas": 3, "digits": 4, "min_dist": 1, ...}}

``read()`` returns it (every key present, empty when nothing was saved), ``write(doc)``
replaces it durably. :class:`Meta0FileStore` keeps it in a file: written to a temporary
file, fsynced, renamed over the old one and the directory fsynced, so a crash leaves the
old document or the new one. The directory service can implement the same two methods
over its own storage and serve it; ``Meta0Client`` does not change.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from oiofs.common.fsutils import write_file_atomic
from oiofs.directory.meta0_errors import Meta0Error


class Meta0Store(Protocol):
    """Read and replace the meta0 document."""

    def read(self) -> dict[str, Any]: ...

    def write(self, doc: dict[str, Any]) -> None: ...


class Meta0FileStore:
    """The meta0 document in one JSON file (``path``); a missing file is an empty one."""

    def __init__(self, path: str):
        self.path = path

    def read(self) -> dict[str, Any]:
        """The document; :class:`Meta0Error` if the file is unreadable or not ours."""
        try:
            with open(self.path, "rb") as handle:
                doc = json.load(handle)
        except FileNotFoundError:
            return {"mapping": {}, "services": [], "settings": {}}
        except (OSError, ValueError) as err:
            raise Meta0Error(f"cannot read the meta0 store {self.path}: {err}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("mapping", {}), dict) \
                or not isinstance(doc.get("services", []), list) \
                or not isinstance(doc.get("settings", {}), dict):
            raise Meta0Error(f"{self.path} is not a meta0 store")
        doc.setdefault("mapping", {})
        doc.setdefault("services", [])
        doc.setdefault("settings", {})
        return doc

    def write(self, doc: dict[str, Any]) -> None:
        """Replace the document durably (fsync, atomic rename, fsync of the directory)."""
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
        try:
            write_file_atomic(self.path, data)
        except OSError as err:
            raise Meta0Error(f"cannot write the meta0 store {self.path}: {err}") from None
