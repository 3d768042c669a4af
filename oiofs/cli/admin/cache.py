"""``oiofs-admin cache flush|status <ip:port>``: a proxy's account/container info caches
(``flush`` also drops a db server's cached brokers)."""

from __future__ import annotations

import argparse
from typing import Any

from oiofs.cli.admin.common import admin_client, run_command
from oiofs.cli.admin.output import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("cache", help="a proxy's info caches")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    flush = verbs.add_parser("flush", help="flush the caches in every worker")
    flush.add_argument("service", help="ip:port of a proxy (or a db server)")
    flush.add_argument("--only", choices=("account", "container"), default=None,
                       help="a proxy: flush only this cache")
    status = verbs.add_parser("status", help="entries and TTL (of the worker answering)")
    status.add_argument("service", help="ip:port of a proxy")


def _flush(args: argparse.Namespace) -> int:
    admin = admin_client(args)
    if admin.service_get_info(args.service)["type"] != "proxy-server":
        emit(admin.service_flush_cache(args.service), args.format)
        return 0
    emit(admin.proxy_flush_cache(high=args.only in (None, "account"),
                                 low=args.only in (None, "container"),
                                 proxy_netloc=args.service), args.format)
    return 0


def _status(args: argparse.Namespace) -> int:
    result = admin_client(args).proxy_get_cache_status(proxy_netloc=args.service)
    if args.format == "json":
        emit(result, "json")
    else:
        emit([{"cache": name, **result[name]} for name in ("account", "container")],
             "table")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_command({"flush": _flush, "status": _status}, args, "cache")
