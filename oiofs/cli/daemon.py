"""``oiofs-daemon <name> <conf> [--once]``: run one background daemon.

The daemon reads the section named after it in ``<conf>`` (``[object-replicator]`` in
``object-server.conf``...), with ``[DEFAULT]`` merged in.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from oiofs.common.daemon import run_daemon

#: daemon name -> "module:Class" (imported only when that daemon is asked for). The name
#: starts with the server type whose config file holds its section (``object-...``); the
#: all-in-one runs every daemon listed here beside that server on each node.
DAEMONS: dict[str, str] = {
    "container-replicator": "oiofs.container.replicator:ContainerReplicator",
    "account-replicator": "oiofs.account.replicator:AccountReplicator",
    "container-updater": "oiofs.container.updater:ContainerUpdater",
    "container-auditor": "oiofs.container.auditor:ContainerAuditor",
    "account-auditor": "oiofs.account.auditor:AccountAuditor",
    "object-replicator": "oiofs.obj.replicator:ObjectReplicator",
    "object-auditor": "oiofs.obj.auditor:ObjectAuditor",
    "object-updater": "oiofs.obj.updater:ObjectUpdater",
    "object-expirer": "oiofs.obj.expirer:ObjectExpirer",
}


def daemons_of(server_type: str) -> list[str]:
    """Names of the daemons that run beside ``server_type`` servers."""
    return sorted(name for name in DAEMONS if name.startswith(server_type + "-"))


def main(argv: list[str] | None = None) -> int:
    """Run the named daemon until SIGTERM, or one pass with ``--once``."""
    parser = argparse.ArgumentParser(prog="oiofs-daemon")
    parser.add_argument("name", help="one of: " + (", ".join(sorted(DAEMONS)) or "(none yet)"))
    parser.add_argument("conf", help="the server config file holding the daemon's section")
    parser.add_argument("--once", action="store_true", help="do one pass and exit")
    args = parser.parse_args(argv)
    target = DAEMONS.get(args.name)
    if not target:
        print(f"oiofs-daemon: unknown daemon {args.name!r}", file=sys.stderr)
        return 2
    module_name, _, class_name = target.partition(":")
    klass = getattr(importlib.import_module(module_name), class_name)
    return run_daemon(klass, args.conf, args.name, once=args.once)


if __name__ == "__main__":
    raise SystemExit(main())
