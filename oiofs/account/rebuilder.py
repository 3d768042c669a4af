"""``oiofs-account-rebuilder``: rebuild the Redis account records from the container databases.

After Redis lost data (a crash without its append-only file, a flushed database), every
container of the cluster still knows its own statistics. The rebuilder walks the container
databases of the given devices directories (every device below each; on a real cluster,
run it on each container node, or on one machine that sees all devices), and replays each
container's put and delete timestamps, object count, bytes and policy as a container
update. Replicas of a container replay the same timestamps: the first one recorded stays
(equal timestamps never overwrite here), which is harmless as the container updater sends
the current counts at its next pass.

It is safe while the cluster serves traffic: a replayed update is never newer than the
container's real one, so it loses against whatever a container server or updater reported
meanwhile (the timestamp rules of :meth:`RedisAccountBackend.update_container`). What
containers cannot tell is lost for good: account metadata (``X-Account-Meta-*``) and an
account's own put timestamp (it becomes the time of the rebuild).

Usage::

    oiofs-account-rebuilder <account-server.conf> [--devices DIR ...] [--workers 8]
        [--account NAME ...] [--quiet]

The Redis options are read from the ``[app:account-server]`` section (with ``[DEFAULT]``)
of the account server's config, which must say ``backend = redis``. ``--devices`` defaults
to that config's ``devices``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from oiofs.account.redis_backend import NoSuchAccount, NoUpdateNeeded, RedisAccountBackend
from oiofs.common.config import readconf
from oiofs.common.db.replication_walk import iter_db_files
from oiofs.common.exceptions import DbError
from oiofs.container.backend import ContainerBroker


@dataclass
class RebuildReport:
    """What a rebuild did."""

    databases: int = 0
    replayed: int = 0
    not_newer: int = 0
    skipped: int = 0
    errors: int = 0
    accounts: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, account: str | None = None) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)
            if account is not None:
                self.accounts.add(account)

    def summary(self) -> str:
        return (f"{self.databases} container databases, {self.replayed} replayed, "
                f"{self.not_newer} already newer in Redis, {self.skipped} skipped, "
                f"{self.errors} errors, {len(self.accounts)} accounts")


def iter_container_dbs(devices_dirs: list[str]) -> Iterator[str]:
    """Every container database file below the devices directories."""
    for devices in devices_dirs:
        try:
            names = sorted(os.listdir(devices))
        except FileNotFoundError:
            continue
        for device in names:
            if os.path.isdir(os.path.join(devices, device, "containers")):
                for _part, db_file in iter_db_files(devices, device, "containers",
                                                    shuffle=False):
                    yield db_file


class AccountRebuilder:
    """Replays every container database's statistics into the Redis account store."""

    def __init__(self, conf: dict, accounts: list[str] | None = None,
                 devices: list[str] | None = None, workers: int = 8,
                 progress=None, backend: RedisAccountBackend | None = None):
        self.backend = backend or RedisAccountBackend(conf)
        self.accounts = set(accounts or ())
        self.devices = devices or [conf.get("devices", "/srv/node")]
        self.workers = max(1, workers)
        self.progress = progress or (lambda message: None)
        self.report = RebuildReport()

    def replay(self, db_file: str) -> None:
        """Replay one container database (counted in the report, errors included)."""
        report = self.report
        report.add("databases")
        try:
            broker = ContainerBroker(db_file, stale_reads_ok=True)
            info = broker.get_info()
        except (DbError, OSError) as err:
            self.progress(f"cannot read {db_file}: {err}")
            report.add("errors")
            return
        account, container = info["account"], info["container"]
        if self.accounts and account not in self.accounts:
            report.add("skipped")
            return
        try:
            self.backend.update_container(
                account, container, info["put_timestamp"], info["delete_timestamp"],
                info["object_count"], info["bytes_used"], autocreate_account=True,
                policy=info["storage_policy_index"], override_deleted=False)
            report.add("replayed", account)
        except NoUpdateNeeded:
            report.add("not_newer", account)
        except NoSuchAccount:  # marked deleted in Redis: its containers stay out
            report.add("skipped")
        except Exception as err:  # one container must not stop the rebuild
            self.progress(f"cannot replay {account}/{container}: {err}")
            report.add("errors")

    def run(self, interval: float = 5.0) -> RebuildReport:
        """Replay every database with the worker pool; progress every ``interval`` s."""
        last = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            pending = []
            for db_file in iter_container_dbs(self.devices):
                pending.append(pool.submit(self.replay, db_file))
                if len(pending) >= self.workers * 16:
                    for future in pending:
                        future.result()
                    pending.clear()
                if time.monotonic() - last >= interval:
                    self.progress("progress: " + self.report.summary())
                    last = time.monotonic()
            for future in pending:
                future.result()
        self.progress("done: " + self.report.summary())
        return self.report


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``oiofs-account-rebuilder``; exit status 1 if a container failed."""
    parser = argparse.ArgumentParser(prog="oiofs-account-rebuilder",
                                     description="Rebuild the Redis account records from "
                                                 "the container databases.")
    parser.add_argument("conf", help="the account server's config (backend = redis)")
    parser.add_argument("--devices", action="append", default=None,
                        help="a devices directory to walk (repeatable; default: the "
                             "config's devices)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--account", action="append", default=None,
                        help="only rebuild this account (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="only the final report")
    args = parser.parse_args(argv)
    conf = readconf(args.conf, "app:account-server")
    if str(conf.get("backend", "sqlite")).strip().lower() != "redis":
        print(f"oiofs-account-rebuilder: {args.conf} does not say backend = redis: "
              "its accounts are sqlite databases, there is nothing to rebuild",
              file=sys.stderr)
        return 2

    def say(message: str) -> None:
        if not args.quiet or message.startswith("done"):
            print(f"oiofs-account-rebuilder: {message}", flush=True)

    report = AccountRebuilder(conf, accounts=args.account, devices=args.devices,
                              workers=args.workers, progress=say).run()
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
