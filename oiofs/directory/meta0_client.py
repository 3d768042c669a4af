"""``Meta0Client``: keeps the meta0 mapping (prefix -> service ids) through a store.

>>> import os, tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> client = Meta0Client({"meta0_path": os.path.join(tmp.name, "meta0.json")})
>>> client.force({"00ab": ["svc-a", "svc-b"]})
>>> client.list()
{'00AB': ['svc-a', 'svc-b']}
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.meta0_store import Meta0FileStore, Meta0Store
from oiofs.directory.prefixes import normalize_prefix

ServiceList = list[dict[str, Any]]


def _clean_mapping(mapping: str | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """A checked copy of a mapping given as a dict or its JSON text."""
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except ValueError as err:
            raise Meta0Error(f"the mapping is not JSON: {err}") from None
    if not isinstance(mapping, Mapping):
        raise Meta0Error("the mapping must be a JSON object: prefix -> service ids")
    clean: dict[str, list[str]] = {}
    for pfx, ids in mapping.items():
        if not isinstance(ids, list) or not ids \
                or not all(isinstance(i, str) and i for i in ids):
            raise Meta0Error(f"prefix {pfx!r}: expected a non-empty list of service ids")
        clean[normalize_prefix(pfx)] = list(ids)
    return clean


class Meta0Client:
    """Keeps the meta0 mapping: prefix -> list of service ids.

    ``Meta0Client({"meta0_path": "/etc/oiofs/meta0.json"})`` or ``Meta0Client(store=...)``
    with any :class:`~oiofs.directory.meta0_store.Meta0Store`. Today the mapping lives in a
    JSON file on the operator's machine; the directory service can serve the same two
    calls later (a store that speaks HTTP), the callers do not change.
    """

    def __init__(self, conf: Mapping[str, Any] | None = None, store: Meta0Store | None = None,
                 **_kwargs: Any):
        if store is None:
            path = (conf or {}).get("meta0_path")
            if not path:
                raise Meta0Error("Meta0Client needs a store or a meta0_path")
            store = Meta0FileStore(str(path))
        self.store = store

    def list(self, **_kwargs: Any) -> dict[str, list[str]]:
        """The whole mapping, prefix -> service ids (empty before the first ``force``)."""
        return self.store.read()["mapping"]

    def force(self, mapping: str | Mapping[str, Sequence[str]], replace: bool = False,
              **_kwargs: Any) -> None:
        """Set the services of the prefixes ``mapping`` names (a dict or its JSON text),
        keeping the others unless ``replace``; saved durably before it returns."""
        clean = _clean_mapping(mapping)
        doc = self.store.read()
        if replace:
            doc["mapping"] = {}
        doc["mapping"].update(clean)
        self.store.write(doc)

    def list_services(self, service_type: str | None = None) -> ServiceList:
        """The service descriptions recorded with the mapping (see :meth:`force_services`)."""
        return self.store.read()["services"]

    def force_services(self, services: Iterable[Mapping[str, Any]]) -> None:
        """Record the descriptions of the mapping's services beside it, so that the
        mapping can be shown and exported to a ring without the conscience."""
        doc = self.store.read()
        doc["services"] = [dict(svc) for svc in services]
        self.store.write(doc)

    def settings(self) -> dict[str, Any]:
        """The placement settings recorded with the mapping (replicas, digits, min_dist,
        level, degradation), empty when none were."""
        settings: dict[str, Any] = self.store.read()["settings"]
        return settings

    def force_settings(self, settings: Mapping[str, Any]) -> None:
        """Record the placement settings the mapping was built with."""
        doc = self.store.read()
        doc["settings"] = dict(settings)
        self.store.write(doc)

    def force_all(self, mapping: Mapping[str, Sequence[str]],
                  services: Iterable[Mapping[str, Any]], settings: Mapping[str, Any]) -> None:
        """Replace the mapping, the services and the settings in one durable write."""
        self.store.write({"mapping": _clean_mapping(mapping),
                          "services": [dict(svc) for svc in services],
                          "settings": dict(settings)})
