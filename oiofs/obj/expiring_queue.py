"""The object server's side of the expiry queue (names in :mod:`oiofs.common.expiring`).

When a write changes an object's ``X-Delete-At`` from ``old`` to ``new`` (either may be
absent), the object server keeps the queue in step once the write is durable:

* ``new``: the row ``<new>-a/c/o`` is PUT into the queue container the proxy named in
  ``X-Delete-At-Container`` on the replicas in ``X-Delete-At-Host``/``-Device``/
  ``-Partition`` (paired with this object replica by the proxy);
* ``old``: the row ``<old>-a/c/o`` is DELETEd from its queue container, computed from
  ``old`` and ``expiring_objects_container_divisor``. Nobody names those replicas (the proxy
  does not know the old value), so they come from the container ring, loaded on first use.
  An object DELETE from the expirer carries ``X-Backend-Clean-Expiring-Object-Queue: no``
  and skips this: the expirer removes the row itself.

Both go out like container updates (bounded wait, async pending on failure). An update
with no replica to send to (no ring here, no headers) becomes an async pending at once:
the object updater finds the replicas in the ring. A row written twice or removed twice
is harmless; an unchanged ``X-Delete-At`` sends nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from oiofs.common.backend_protocol import (
    CLEAN_QUEUE_HEADER,
    POLICY_INDEX_HEADER,
    UpdateTarget,
    parse_update_targets,
)
from oiofs.common.config import conf_int, oiofs_dir
from oiofs.common.exceptions import RingError
from oiofs.common.expiring import (
    DEFAULT_DIVISOR,
    EXPIRING_ACCOUNT,
    ROW_ETAG,
    queue_container,
    queue_object,
    row_content_type,
)
from oiofs.common.ring import Ring
from oiofs.common.system_queue import QUEUE_POLICY


class QueueUpdate(NamedTuple):
    """One queue row to write or remove; ``targets`` empty means "leave it as a pending"."""

    targets: list[UpdateTarget]
    op: str
    container: str
    obj: str
    headers: dict[str, str]


class ExpiringQueue:
    """Builds the queue updates of object writes; one per object server worker."""

    def __init__(self, conf: dict, logger):
        self.logger = logger
        self.divisor = conf_int(conf, "expiring_objects_container_divisor", DEFAULT_DIVISOR,
                                minimum=1)
        self.oiofs_dir = oiofs_dir(conf)
        self._ring: Ring | None = None
        self._ring_failed = False

    def container_ring(self) -> Ring | None:
        """The container ring, loaded on first use; ``None`` if it cannot be read (the
        updates then wait as async pendings for the updater, which has the ring)."""
        if self._ring is None and not self._ring_failed:
            try:
                self._ring = Ring(self.oiofs_dir, ring_name="container")
            except RingError as err:
                self._ring_failed = True  # not retried per request: logged once
                self.logger.error("no container ring for expiry queue updates: %s", err)
        return self._ring

    def _ring_targets(self, container: str) -> list[UpdateTarget]:
        ring = self.container_ring()
        if ring is None:
            return []
        part, nodes = ring.get_nodes(EXPIRING_ACCOUNT, container)
        return [UpdateTarget(n["ip"], int(n["port"]), n["device"], str(part)) for n in nodes]

    def updates(self, headers, policy_index: int, account: str, container: str, obj: str,
                base_headers: dict[str, str], old: int | None, new: int | None
                ) -> list[QueueUpdate]:
        """The queue updates for a write that took the object from ``old`` to ``new``.

        ``headers`` are the request's (for ``X-Delete-At-*`` and the clean-queue flag);
        ``base_headers`` go with every update (``X-Timestamp``, ``X-Trans-Id``...).
        """
        if old == new:
            return []
        result = []
        if new:
            row_container = headers.get("X-Delete-At-Container") or queue_container(
                new, self.divisor)
            try:
                targets = parse_update_targets(headers.get("X-Delete-At-Host"),
                                               headers.get("X-Delete-At-Device"),
                                               headers.get("X-Delete-At-Partition"))
            except ValueError as err:
                self.logger.error("expiry queue headers of /%s/%s/%s: %s", account, container,
                                  obj, err)
                targets = []
            if not targets:
                targets = self._ring_targets(row_container)
            row_headers = dict(base_headers)
            row_headers.update({"X-Size": "0", "X-Content-Type": row_content_type(policy_index),
                                "X-Etag": ROW_ETAG, POLICY_INDEX_HEADER:
                                QUEUE_POLICY})
            result.append(QueueUpdate(targets, "PUT", row_container,
                                      queue_object(new, account, container, obj), row_headers))
        if old and headers.get(CLEAN_QUEUE_HEADER, "yes").lower() != "no":
            row_container = queue_container(old, self.divisor)
            row_headers = dict(base_headers)
            row_headers[POLICY_INDEX_HEADER] = QUEUE_POLICY
            result.append(QueueUpdate(self._ring_targets(row_container), "DELETE",
                                      row_container, queue_object(old, account, container, obj),
                                      row_headers))
        return result
