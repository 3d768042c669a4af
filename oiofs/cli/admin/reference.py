"""``oiofs-admin reference create|show|link|unlink|force|renew|props|delete``: references
and the services linked to them (:class:`~oiofs.directory.client.DirectoryClient`).

A reference is named by ``ACCOUNT REFERENCE``. ``props`` shows the properties after
applying ``--set k=v``, ``--unset k`` and ``--clear``, in that order.
"""

from __future__ import annotations

import argparse
from typing import Any

from oiofs.cli.admin.endpoints import add_directory_option, run_against_directory
from oiofs.cli.admin.output import emit

LINK_COLUMNS = ["type", "seq", "host", "args"]


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value")
    return key, value


def add_parser(subparsers: Any) -> None:
    """Add ``reference`` and its verbs."""
    parser = subparsers.add_parser("reference", help="references and their linked services")
    add_directory_option(parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, text: str, typed: bool = False) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=text)
        sub.add_argument("account")
        sub.add_argument("reference")
        if typed:
            sub.add_argument("type", help="service type")
        return sub

    create = verb("create", "create a reference")
    create.add_argument("--property", type=_pair, action="append", default=[],
                        metavar="K=V")
    show = verb("show", "a reference and its links")
    show.add_argument("--type", default=None, help="only the links of this type")
    for name, text in (("link", "poll and link services of a type (unless linked)"),
                       ("renew", "poll and link a new set at the next sequence number")):
        sub = verb(name, text, typed=True)
        sub.add_argument("--count", type=int, default=1, help="services in the set (1)")
        if name == "link":
            sub.add_argument("--autocreate", action="store_true")
    verb("unlink", "remove every link of a type", typed=True)
    force = verb("force", "link exactly these services", typed=True)
    force.add_argument("host", help="ip:port[,ip:port...]")
    force.add_argument("--seq", type=int, default=1)
    force.add_argument("--args", default="")
    force.add_argument("--replace", action="store_true",
                       help="overwrite a link of the same type and seq")
    force.add_argument("--autocreate", action="store_true")
    props = verb("props", "show (and change) a reference's properties")
    props.add_argument("--set", type=_pair, action="append", default=[], metavar="K=V")
    props.add_argument("--unset", action="append", default=[], metavar="K")
    props.add_argument("--clear", action="store_true", help="delete every property")
    delete = verb("delete", "delete a reference")
    delete.add_argument("--force", action="store_true", help="even with links")


def run(args: argparse.Namespace) -> int:
    """Run ``reference <verb>``."""
    from oiofs.directory.client import DirectoryClient

    def command(endpoints: list[str]) -> int:
        dc = DirectoryClient(endpoints=endpoints)
        name = (args.account, args.reference)
        result: Any
        if args.verb == "create":
            created = dc.create(*name, properties=dict(args.property))
            result = {"cid": dc.list(*name)["cid"], "created": created}
        elif args.verb == "show":
            shown = dc.list(*name, service_type=args.type)
            if args.format == "json":
                result = shown
            else:
                emit({k: shown[k] for k in ("account", "reference", "cid")}, args.format)
                result = shown["srv"]
        elif args.verb == "link":
            result = dc.link(*name, args.type, count=args.count, autocreate=args.autocreate)
        elif args.verb == "renew":
            result = dc.renew(*name, args.type, count=args.count)
        elif args.verb == "unlink":
            dc.unlink(*name, args.type)
            result = dc.list(*name)["srv"]
        elif args.verb == "force":
            result = dc.force(*name, args.type, {"host": args.host, "seq": args.seq,
                                                 "args": args.args},
                              replace=args.replace, autocreate=args.autocreate)
        elif args.verb == "props":
            if args.set:
                dc.set_properties(*name, dict(args.set))
            if args.unset:
                dc.del_properties(*name, args.unset)
            if args.clear:
                dc.del_properties(*name, [])
            result = dc.get_properties(*name)["properties"]
        else:
            dc.delete(*name, force=args.force)
            result = {"deleted": True}
        emit(result, args.format, LINK_COLUMNS if isinstance(result, list) else None)
        return 0

    return run_against_directory(args, command)
