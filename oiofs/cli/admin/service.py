"""``oiofs-admin service list|show|lock|unlock``: the conscience's services and scores.

``lock <type> <addr> [--score N]`` pins a score (0, the default, drains the service: the
proxies stop sending it client traffic within their refresh interval); ``unlock`` lets
its own score count again.
"""

from __future__ import annotations

import argparse
from typing import Any

from oiofs.cli.admin.endpoints import add_directory_option, run_against_directory
from oiofs.cli.admin.output import emit

COLUMNS = ["type", "id", "addr", "score", "locked", "up", "location"]


def add_parser(subparsers: Any) -> None:
    """Add ``service`` and its verbs."""
    parser = subparsers.add_parser("service", help="services registered in the conscience")
    add_directory_option(parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="every service (of a type) and its score")
    listing.add_argument("type", nargs="?", help="only this service type")
    for name, text in (("show", "one service, all its tags"),
                       ("lock", "pin a service's score (default 0: drain it)"),
                       ("unlock", "let a service's own score count again")):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument("type", help="service type (object, container, account, proxy...)")
        verb.add_argument("addr", help="ip:port")
        if name == "lock":
            verb.add_argument("--score", type=int, default=0, help="0..100 (default 0)")


def _row(service: dict[str, Any]) -> dict[str, Any]:
    return {"type": service["type"], "id": service["id"], "addr": service["addr"],
            "score": service["score"], "locked": service["locked"],
            "up": service["tags"].get("tag.up"), "location": service["tags"].get("tag.loc")}


def run(args: argparse.Namespace) -> int:
    """Run ``service <verb>``."""
    from oiofs.directory.client import ConscienceClient

    def command(endpoints: list[str]) -> int:
        client = ConscienceClient(endpoints=endpoints)
        result: Any
        if args.verb == "list":
            services = client.list_services(args.type)
            result = services if args.format == "json" else [_row(s) for s in services]
            emit(result, args.format, COLUMNS)
            return 0
        if args.verb == "show":
            result = client.show(args.type, args.addr)
        elif args.verb == "lock":
            result = client.lock(args.type, args.addr, args.score)
        else:
            result = client.unlock(args.type, args.addr)
        emit(result, args.format)
        return 0

    return run_against_directory(args, command)
