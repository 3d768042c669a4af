"""``oiofs-admin base status|vacuum|copy|props|move|rebuild``: one base's replicas."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from oiofs.cli.admin.common import (
    add_base_arguments,
    admin_client,
    parse_pairs,
    progress,
    run_command,
)
from oiofs.cli.admin.output import emit
from oiofs.directory.meta2 import Meta2Database


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("base", help="a base's replicas (container or account "
                                                "database)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    status = verbs.add_parser("status", help="every replica's state, the most up to date")
    add_base_arguments(status)
    vacuum = verbs.add_parser("vacuum", help="vacuum every replica (sizes before/after)")
    add_base_arguments(vacuum)
    copy = verbs.add_parser("copy", help="copy a replica to a device (verified)")
    add_base_arguments(copy)
    copy.add_argument("--to", required=True, help="target ip:port/device")
    copy.add_argument("--from", dest="source", default=None,
                      help="source ip:port/device (default: the most up to date)")
    props = verbs.add_parser("props", help="show or set properties (metadata)")
    add_base_arguments(props)
    props.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                       help="X-Container-Meta-*/-Sysmeta-* values (empty deletes)")
    move = verbs.add_parser("move", help="move a replica to its primary, remove the "
                                         "source")
    add_base_arguments(move)
    move.add_argument("--from", dest="source", required=True, help="ip:port/device")
    move.add_argument("--to", default=None,
                      help="ip:port/device (default: the primary without a replica)")
    rebuild = verbs.add_parser("rebuild", help="give every primary without a replica a "
                                               "copy")
    add_base_arguments(rebuild)


def _status(args: argparse.Namespace) -> int:
    result = admin_client(args).election_status(args.type, args.account, args.container)
    if args.format == "json":
        emit(result, "json")
        return 0
    rows = []
    for rid, answer in result["peers"].items():
        body = answer["body"] if answer["status"] == 200 else {}
        rows.append({"replica": rid, "status": answer["status"],
                     "count": body.get("count"), "max_row": body.get("max_row"),
                     "hash": body.get("hash"), "put_timestamp": body.get("put_timestamp"),
                     "best": "*" if rid == result["most_up_to_date"] else ""})
    emit(rows, "table")
    emit({"in_sync": result["in_sync"], "most_up_to_date": result["most_up_to_date"]},
         "table")
    return 0


def _each(args: argparse.Namespace, op: str, columns: list[str]) -> int:
    admin = admin_client(args)
    _part, nodes = admin.locate(args.type, args.account, args.container)
    results: dict[str, Any] = {}
    for done, node in enumerate(nodes, 1):
        rid = f"{node['ip']}:{node['port']}/{node['device']}"
        results.update(getattr(admin, op)(args.type, args.account, args.container,
                                          service_id=rid))
        progress(f"{op}: {done}/{len(nodes)} replicas ({rid}: {results[rid]['status']})")
    if args.format == "json":
        emit(results, "json")
    else:
        emit([{"replica": rid, "status": r["status"],
               **({c: r["body"].get(c) for c in columns} if r["status"] == 200
                  else {"error": r["body"]})} for rid, r in results.items()], "table",
             ["replica", "status", *columns, "error"])
    return 0 if all(r["status"] == 200 for r in results.values()) else 1


def _vacuum(args: argparse.Namespace) -> int:
    return _each(args, "vacuum_base", ["size_before", "size_after"])


def _copy(args: argparse.Namespace) -> int:
    result = admin_client(args).copy_base_to(args.type, args.account, args.container,
                                             service_id=args.source, svc_to=args.to)
    emit(result, args.format)
    return 0


def _props(args: argparse.Namespace) -> int:
    admin = admin_client(args)
    if args.set:
        admin.set_properties(args.type, args.account, args.container,
                             properties=parse_pairs(args.set))
    emit(admin.get_properties(args.type, args.account, args.container), args.format)
    return 0


def _move(args: argparse.Namespace) -> int:
    meta2 = Meta2Database(admin_client=admin_client(args), service_type=args.type)
    progress(f"moving {args.account}/{args.container or ''} from {args.source}")
    emit(meta2.move(args.account, args.container, src=args.source, dst=args.to),
         args.format)
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    meta2 = Meta2Database(admin_client=admin_client(args), service_type=args.type)
    result = meta2.rebuild(args.account, args.container)
    emit(result, args.format)
    return 1 if result["failed"] else 0


VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _status, "vacuum": _vacuum, "copy": _copy, "props": _props, "move": _move,
    "rebuild": _rebuild}


def run(args: argparse.Namespace) -> int:
    return run_command(VERBS, args, "base")
