"""``container-replicator``: keeps the replicas of every container database alike.

The work is :class:`oiofs.common.db.replicator.DbReplicator`'s (``docs/db-replication.md``);
containers add:

* a deleted container's database is removed only once the account has been told its last
  state (by the container updater), or the account would list it forever;
* replicas that disagree about the storage policy settle on one while they sync
  (:mod:`oiofs.common.policy_choice`); the rows of the other policy stay, misplaced;
* after a primary database is synced, its misplaced rows (policy not the container's)
  since its ``reconciler_sync_point`` are queued in ``.misplaced_objects``
  (:mod:`oiofs.common.reconciler_queue`) for the container-reconciler, and the point moves
  past them. A row that cannot be queued (no quorum) stops the walk: the next pass
  starts from it again. Queueing twice is harmless.

Options: those of the db replicator (``[container-replicator]``).
"""

from __future__ import annotations

from logging import Logger
from typing import Any

from oiofs.common.config import oiofs_dir
from oiofs.common.db.replicator import DbReplicationStats, DbReplicator
from oiofs.common.reconciler_queue import (
    MISPLACED_ACCOUNT,
    queue_container,
    queue_object,
    row_content_type,
    row_etag,
)
from oiofs.common.ring import Ring
from oiofs.common.system_queue import SystemQueue
from oiofs.container.backend import ContainerBroker, decode_timestamps


class ContainerReplicator(DbReplicator[ContainerBroker]):
    """Replication of the container databases of this node's container server."""

    name = "container-replicator"
    server_type = "container"
    datadir = "containers"
    broker_class = ContainerBroker

    def __init__(self, conf: dict[str, Any], logger: Logger | None = None,
                 ring: Ring | None = None):
        super().__init__(conf, logger, ring)
        self._queue: SystemQueue | None = None
        #: queue containers created during this pass (each is created once a pass)
        self._created: set[str] = set()

    def report_up_to_date(self, broker: ContainerBroker) -> bool:
        """True if the account has the container's current timestamps and counts."""
        info = broker.get_info()
        return (info["reported_put_timestamp"] == info["put_timestamp"]
                and info["reported_delete_timestamp"] == info["delete_timestamp"]
                and info["reported_object_count"] == info["object_count"]
                and info["reported_bytes_used"] == info["bytes_used"])

    def run_once(self, **kwargs: Any) -> DbReplicationStats:
        """One replication pass (queue containers are created again as needed)."""
        self._created = set()
        return super().run_once(**kwargs)

    def misplaced_queue(self) -> SystemQueue:
        """The ``.misplaced_objects`` queue (its rings loaded on first use)."""
        if self._queue is None:
            self._queue = SystemQueue(
                MISPLACED_ACCOUNT, Ring(oiofs_dir(self.conf), ring_name="account"),
                self.ring, self.name, self.logger, self.repeats, self.conn_timeout,
                self.node_timeout)
        return self._queue

    def after_replication(self, broker: ContainerBroker, info: dict[str, Any]) -> None:
        """Queue the misplaced rows of a synced primary database (module docstring)."""
        point = broker.get_reconciler_sync()
        last = broker.get_max_row()
        while True:
            rows = broker.get_misplaced_since(point, self.per_diff)
            if not rows:
                break
            for row in rows:
                if not self.queue_row(info["account"], info["container"], row):
                    broker.update_reconciler_sync(point)
                    return
                point = row["ROWID"]
        broker.update_reconciler_sync(max(point, last))

    def queue_row(self, account: str, container: str, row: dict[str, Any]) -> bool:
        """Queue one misplaced row; True if a quorum of the queue's replicas has it."""
        created = self._created
        queue = self.misplaced_queue()
        timestamp = decode_timestamps(row["created_at"])[0]
        where = queue_container(timestamp)
        if where not in created and queue.create_container(where):
            created.add(where)
        name = queue_object(row["storage_policy_index"], account, container, row["name"])
        if not queue.add_row(where, name, timestamp, row_content_type(bool(row["deleted"])),
                             row_etag(timestamp)):
            self.logger.warning("%s: cannot queue misplaced %s now", self.name, name)
            return False
        self.stats.misplaced_queued += 1
        return True
