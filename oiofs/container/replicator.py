"""``container-replicator``: keeps the replicas of every container database alike.

The work is :class:`oiofs.common.db.replicator.DbReplicator`'s (``docs/db-replication.md``);
containers add one rule: a deleted container's database is removed only once the account
has been told its last state (by the container updater), or the account would list it
forever.
"""

from __future__ import annotations

from oiofs.common.db.replicator import DbReplicator
from oiofs.container.backend import ContainerBroker


class ContainerReplicator(DbReplicator[ContainerBroker]):
    """Replication of the container databases of this node's container server."""

    name = "container-replicator"
    server_type = "container"
    datadir = "containers"
    broker_class = ContainerBroker

    def report_up_to_date(self, broker: ContainerBroker) -> bool:
        """True if the account has the container's current timestamps and counts."""
        info = broker.get_info()
        return (info["reported_put_timestamp"] == info["put_timestamp"]
                and info["reported_delete_timestamp"] == info["delete_timestamp"]
                and info["reported_object_count"] == info["object_count"]
                and info["reported_bytes_used"] == info["bytes_used"])
