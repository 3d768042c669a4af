"""``account-replicator``: keeps the replicas of every account database alike.

All the work is :class:`oiofs.common.db.replicator.DbReplicator`'s
(``docs/db-replication.md``); an account reports to nobody, so a deleted account's
database is removed as soon as it is past ``reclaim_age``.
"""

from __future__ import annotations

from oiofs.account.backend import AccountBroker
from oiofs.common.db.replicator import DbReplicationStats, DbReplicator


class AccountReplicator(DbReplicator[AccountBroker]):
    """Replication of the account databases of this node's account server."""

    name = "account-replicator"
    server_type = "account"
    datadir = "accounts"
    broker_class = AccountBroker

    def run_once(self, **kwargs) -> DbReplicationStats:
        """A pass over the local databases; with ``backend = redis`` there are none."""
        if str(self.conf.get("backend", "sqlite")).strip().lower() == "redis":
            self.logger.info("%s: accounts are kept in Redis (backend = redis), nothing "
                             "to replicate", self.name)
            self.stats = DbReplicationStats()
            return self.stats
        return super().run_once(**kwargs)
