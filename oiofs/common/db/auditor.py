"""The database auditor: finds unreadable databases so that replication can replace them.

An auditor only detects; the replicator restores a quarantined database from a peer, as a
whole copy.

Each pass opens every database of this node's devices and reads its stats (``get_info``,
which merges the pending updates first). Every ``quick_check_interval`` seconds a pass
also runs sqlite's ``PRAGMA quick_check`` on each, which reads every page and finds
damage that the stats do not touch. A database that fails is moved to
``<dev>/quarantined/<type>s/`` by the broker (never deleted). Subclasses may check more
(:meth:`DbAuditor.check`). A pass ends with one summary line.

Options (``[container-auditor]`` or ``[account-auditor]``, with ``[DEFAULT]``):
``devices``, ``mount_check``, ``bind_ip``/``bind_port``, ``oiofs_dir``, ``interval``
(1800 s), ``dbs_per_second`` (200; 0 for no limit), ``quick_check_interval`` (86400 s;
0 means every pass), ``db_busy_timeout`` (25 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from logging import Logger
from typing import Any, Generic

from oiofs.common.config import conf_float, oiofs_dir
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.db.broker import BrokerT
from oiofs.common.db.replication_walk import iter_db_files, local_db_devices
from oiofs.common.exceptions import DbError, DbNotFound, DbQuarantined
from oiofs.common.ring import Ring


@dataclass
class DbAuditStats(PassStats):
    """What one pass found."""

    checked: int = 0
    passed: int = 0
    quick_checks: int = 0
    quarantined: int = 0
    failures: int = 0


class DbAuditor(Daemon, Generic[BrokerT]):
    """Audit of one kind of database; subclasses set the class attributes."""

    server_type = ""
    datadir = ""
    broker_class: type[BrokerT]  # set by each auditor

    def __init__(self, conf: dict[str, Any], logger: Logger | None = None,
                 ring: Ring | None = None):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 1800.0)
        self.devices = conf.get("devices", "/srv/node")
        self.dbs_per_second = conf_float(conf, "dbs_per_second", 200.0)
        self.quick_check_interval = conf_float(conf, "quick_check_interval", 86400.0)
        self.db_busy_timeout = conf_float(conf, "db_busy_timeout", 25.0)
        self.ring = ring or Ring(oiofs_dir(conf), ring_name=self.server_type)
        self.last_quick_check = 0.0
        self.stats = DbAuditStats()

    def recon_entries(self, result: Any, began: float, ended: float) -> dict[str, Any]:
        """Swift's ``<type>_audits_*`` keys."""
        stats: DbAuditStats = result
        kind = self.server_type
        return {f"{kind}_audits_passed": stats.passed,
                f"{kind}_audits_failed": stats.failures + stats.quarantined,
                f"{kind}_audits_since": began,
                f"{kind}_auditor_pass_completed": ended - began}

    def run_once(self, **kwargs: Any) -> DbAuditStats:
        """Audit every local database once; the pass's counters."""
        self.stats = stats = DbAuditStats()
        quick = time.time() - self.last_quick_check >= self.quick_check_interval
        started = time.monotonic()
        for dev in local_db_devices(self.ring, self.conf, self.logger):
            for _part, db_file in iter_db_files(self.devices, dev["device"], self.datadir):
                if self.stopping:
                    break
                self.audit_db(db_file, quick)
                self._rate_limit(started, stats.checked)
        if quick:
            self.last_quick_check = stats.started
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def _rate_limit(self, started: float, done: int) -> None:
        if self.dbs_per_second > 0:
            ahead = done / self.dbs_per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)  # spread the disk reads: the servers need the disk too

    def audit_db(self, db_file: str, quick_check: bool = False) -> bool:
        """Check one database; False if it was quarantined or could not be read."""
        stats = self.stats
        broker = self.broker_class(db_file, timeout=self.db_busy_timeout, logger=self.logger)
        try:
            stats.checked += 1
            info = broker.get_info()
            if quick_check:
                stats.quick_checks += 1
                with broker.get() as conn:
                    result = conn.execute("PRAGMA quick_check").fetchall()
                if result != [("ok",)]:
                    problems = "; ".join(str(row[0]) for row in result[:5])
                    broker.quarantine(f"quick_check: {problems}")
            self.check(broker, info)
            stats.passed += 1
            return True
        except DbQuarantined:
            stats.quarantined += 1
        except DbNotFound:
            stats.checked -= 1  # removed (replicated away) since the walk saw it
            return True
        except DbError as err:
            stats.failures += 1
            self.logger.error("audit of %s failed: %s", db_file, err)
        finally:
            broker.close()
        return False

    def check(self, broker: BrokerT, info: dict[str, Any]) -> None:
        """More checks of a readable database (subclasses); raise ``DbError`` or
        quarantine on a failure."""
