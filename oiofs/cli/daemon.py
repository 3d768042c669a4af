"""``oiofs-daemon <name> <conf> [--once]``: run one background daemon;
``oiofs-daemon group <conf> [<conf>...]``: run every daemon of those files in one process.

A daemon reads the section named after it in ``<conf>`` (``[object-replicator]`` in
``object-server.conf``...), with ``[DEFAULT]`` merged in. ``group`` runs each daemon that
has a section in one of the files as a green thread of one process
(:mod:`oiofs.cli.daemon_group`), restarting one that dies; the all-in-one runs one group
per node.
"""

from __future__ import annotations

import argparse
import sys

from oiofs.cli.daemon_group import RESTART_DELAY, load_daemon_class, run_group
from oiofs.common.daemon import run_daemon

#: daemon name -> "module:Class" (imported only when that daemon is asked for). The name
#: starts with the server type whose config file holds its section (``object-...``); the
#: all-in-one runs every daemon listed here beside that server on each node, so adding a
#: daemon to the cluster is one line here (plus its class).
DAEMONS: dict[str, str] = {
    "container-replicator": "oiofs.container.replicator:ContainerReplicator",
    "account-replicator": "oiofs.account.replicator:AccountReplicator",
    "container-updater": "oiofs.container.updater:ContainerUpdater",
    "container-auditor": "oiofs.container.auditor:ContainerAuditor",
    "container-sync": "oiofs.container.sync:ContainerSync",
    "container-reconciler": "oiofs.proxy.reconciler:ContainerReconciler",
    "account-auditor": "oiofs.account.auditor:AccountAuditor",
    "account-reaper": "oiofs.account.reaper:AccountReaper",
    "object-replicator": "oiofs.obj.replicator:ObjectReplicator",
    "object-reconstructor": "oiofs.obj.reconstructor:ObjectReconstructor",
    "object-auditor": "oiofs.obj.auditor:ObjectAuditor",
    "object-updater": "oiofs.obj.updater:ObjectUpdater",
    "object-expirer": "oiofs.obj.expirer:ObjectExpirer",
    "db-indexer": "oiofs.directory.indexer:Meta2Indexer",
}

#: daemons whose name does not start with the server type whose config holds their
#: section (the seed's name kept): that server type
DAEMON_HOMES: dict[str, str] = {"db-indexer": "container"}

GROUP = "group"


def daemons_of(server_type: str) -> list[str]:
    """Names of the daemons that run beside ``server_type`` servers."""
    return sorted(name for name in DAEMONS if name.startswith(server_type + "-")
                  or DAEMON_HOMES.get(name) == server_type)


def unknown_daemon(name: str) -> str:
    """The message for a daemon name that is not one: it lists the valid names."""
    return f"unknown daemon {name!r}; the daemons are: {', '.join(sorted(DAEMONS))}"


def _group_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="oiofs-daemon group",
                                     description="Run every daemon that has a section in "
                                                 "the given files, in one process.")
    parser.add_argument("confs", nargs="+", metavar="conf", help="server config files")
    parser.add_argument("--log-name", default="daemons",
                        help="name of the group's own log lines (default daemons)")
    parser.add_argument("--restart-delay", type=float, default=RESTART_DELAY,
                        help=f"seconds before a dead daemon is started again "
                             f"(default {RESTART_DELAY:g})")
    args = parser.parse_args(argv)
    return run_group(args.confs, DAEMONS, args.log_name, args.restart_delay)


def main(argv: list[str] | None = None) -> int:
    """Run the named daemon until SIGTERM, or one pass with ``--once``; or a group."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [GROUP]:
        return _group_main(argv[1:])
    parser = argparse.ArgumentParser(prog="oiofs-daemon", epilog=(
        f"or: oiofs-daemon {GROUP} <conf> [<conf>...] runs every daemon of those files "
        "in one process"))
    parser.add_argument("name", help="one of: " + ", ".join(sorted(DAEMONS)))
    parser.add_argument("conf", help="the server config file holding the daemon's section")
    parser.add_argument("--once", action="store_true", help="do one pass and exit")
    args = parser.parse_args(argv)
    target = DAEMONS.get(args.name)
    if not target:
        print(f"oiofs-daemon: {unknown_daemon(args.name)}", file=sys.stderr)
        return 2
    return run_daemon(load_daemon_class(target), args.conf, args.name, once=args.once)


if __name__ == "__main__":
    raise SystemExit(main())
