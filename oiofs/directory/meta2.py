"""The seed's ``Meta2Database``: move and rebuild one base's replicas.

oiofs places a base by the ring: its replicas belong on the primaries of its partition.
So the two maintenance operations mean:

* **move** (``src`` -> ``dst``, both ``ip:port/device``): copy the replica of ``src`` to
  ``dst``, verify the copy (``copy_to``: the receiver's integrity and name checks, then
  the target holds every row), and remove the source. "Switching placement" is the
  ring's job: ``dst`` must be a primary of the base's partition (default: the primary
  that has no replica), and ``src`` must not be one -- a replica moved away from a
  primary would be brought back by the next replication pass, and one moved to a
  non-primary would be pushed back and removed by it. The usual case: the ring changed
  (a device drained or added), and the base is moved from its old device (now a handoff)
  to its new primary at once instead of waiting for the replicators.
* **rebuild**: every primary without a replica (a lost device, a deleted file) gets a
  verified copy of the most up to date replica.
"""

from __future__ import annotations

from typing import Any

from oiofs.common.ring.devices import Device
from oiofs.directory.admin_client import AdminClient, AdminError, replica_id


class MoveRefused(AdminError):
    """A move that the ring's placement would undo (409)."""

    def __init__(self, msg: str):
        super().__init__(msg, http_status=409)


class Meta2Database:
    """Maintenance of container bases (or account bases, ``service_type``)."""

    def __init__(self, conf: dict[str, Any] | None = None, logger: Any = None,
                 admin_client: AdminClient | None = None, service_type: str = "container",
                 **kwargs: Any):
        self.conf = dict(conf or {})
        self.logger = logger
        self.admin = admin_client or AdminClient(self.conf, **kwargs)
        self.service_type = service_type

    def primaries(self, account: str, reference: str | None) -> tuple[int, list[Device]]:
        """``(partition, primaries)`` of a base in the ring."""
        return self.admin.locate(self.service_type, account, reference)

    def move(self, account: str = "", reference: str | None = None, src: str = "",
             dst: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Move a base's replica from ``src`` to ``dst`` (module docstring); what was
        done: ``{"src", "dst", "copy": <copy_to answer>, "removed": bool}``."""
        _part, nodes = self.primaries(account, reference)
        primary_ids = [replica_id(n) for n in nodes]
        if src in primary_ids:
            raise MoveRefused(f"{src} is a primary of this base: the replicators would "
                              "bring a replica back; change the ring first")
        status = self.admin.has_base(self.service_type, account, reference,
                                     service_id=primary_ids + [src])
        if status[src]["status"] != 200:
            raise AdminError(f"{src} has no replica of this base",
                             http_status=status[src]["status"] or None)
        if dst is None:
            dst = next((rid for rid in primary_ids if status[rid]["status"] == 404), None)
            if dst is None:
                raise MoveRefused("every primary of this base has a replica: nothing to "
                                  "move to (remove the handoff with base remove)")
        elif dst not in primary_ids:
            raise MoveRefused(f"{dst} is not a primary of this base (primaries: "
                              f"{', '.join(primary_ids)}): the replicators would move it "
                              "back")
        copy = self.admin.copy_base_from(self.service_type, account, reference,
                                         svc_from=src, svc_to=dst)
        removed = self.admin.remove_base(self.service_type, account, reference,
                                         service_id=src)[src]
        return {"src": src, "dst": dst, "copy": copy,
                "removed": removed["status"] == 200 and removed["body"]["removed"]}

    def rebuild(self, account: str = "", reference: str | None = None, **kwargs: Any
                ) -> dict[str, Any]:
        """Give every primary without a replica a verified copy of the most up to date
        one; ``{"source", "rebuilt": {id: copy answer}, "failed": {id: reason}}``."""
        election = self.admin.election_status(self.service_type, account, reference)
        source = election["most_up_to_date"]
        if source is None:
            raise AdminError("no replica of this base answers: nothing to rebuild from",
                             http_status=404)
        rebuilt: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for rid, answer in election["peers"].items():
            if answer["status"] != 404:
                if answer["status"] != 200:
                    failed[rid] = str(answer["body"])
                continue
            try:
                rebuilt[rid] = self.admin.copy_base_from(self.service_type, account,
                                                         reference, svc_from=source,
                                                         svc_to=rid)
            except AdminError as err:
                failed[rid] = str(err)
        return {"source": source, "rebuilt": rebuilt, "failed": failed}
