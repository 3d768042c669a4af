"""``container-auditor``: quarantines container databases that cannot be read.

The work is :class:`oiofs.common.db.auditor.DbAuditor`'s; the container
replicator then restores a quarantined database from a peer (``docs/db-replication.md``).
"""

from __future__ import annotations

from oiofs.common.db.auditor import DbAuditor
from oiofs.container.backend import ContainerBroker


class ContainerAuditor(DbAuditor[ContainerBroker]):
    """Audit of the container databases of this node's container server."""

    name = "container-auditor"
    server_type = "container"
    datadir = "containers"
    broker_class = ContainerBroker
