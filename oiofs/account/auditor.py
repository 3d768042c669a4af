"""``account-auditor``: quarantines account databases that cannot be read.

The work is :class:`oiofs.common.db.auditor.DbAuditor`'s; accounts add one
check: the account's totals must equal the sums of its per-policy stats (a mismatch is
logged: the rows are right, only the totals would be, and no copy is better).
"""

from __future__ import annotations

from oiofs.account.backend import AccountBroker
from oiofs.common.db.auditor import DbAuditor, DbAuditStats


class AccountAuditor(DbAuditor[AccountBroker]):
    """Audit of the account databases of this node's account server."""

    name = "account-auditor"
    server_type = "account"
    datadir = "accounts"
    broker_class = AccountBroker

    def run_once(self, **kwargs) -> DbAuditStats:
        """A pass over the local databases; with ``backend = redis`` there are none."""
        if str(self.conf.get("backend", "sqlite")).strip().lower() == "redis":
            self.logger.info("%s: accounts are kept in Redis (backend = redis), nothing "
                             "to audit", self.name)
            self.stats = DbAuditStats()
            return self.stats
        return super().run_once(**kwargs)

    def check(self, broker: AccountBroker, info: dict) -> None:
        """Log an account whose totals differ from the sum of its policy stats."""
        per_policy = broker.get_policy_stats().values()
        for key in ("container_count", "object_count", "bytes_used"):
            total = sum(stats[key] for stats in per_policy)
            if total != info[key]:
                self.logger.error("account %s: %s is %s but its policies sum to %s",
                                  info["account"], key, info[key], total)
