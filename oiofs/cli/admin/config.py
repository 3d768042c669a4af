"""``oiofs-admin config get|set <ip:port>``: a server's live settings (the proxy's too),
changed in every worker without a restart (and lost at the next one)."""

from __future__ import annotations

import argparse
from typing import Any

from oiofs.cli.admin.common import admin_client, parse_pairs, run_command
from oiofs.cli.admin.output import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="a server's live settings")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    get = verbs.add_parser("get", help="every live setting and its value")
    get.add_argument("service", help="ip:port of a server or proxy")
    put = verbs.add_parser("set", help="change live settings")
    put.add_argument("service", help="ip:port of a server or proxy")
    put.add_argument("pairs", nargs="+", metavar="NAME=VALUE")


def _get(args: argparse.Namespace) -> int:
    emit(admin_client(args).service_get_live_config(args.service), args.format)
    return 0


def _set(args: argparse.Namespace) -> int:
    emit(admin_client(args).service_set_live_config(args.service, parse_pairs(args.pairs)),
         args.format)
    return 0


def run(args: argparse.Namespace) -> int:
    return run_command({"get": _get, "set": _set}, args, "config")
