"""``oiofs-admin volume bases <ip:port/device>``: the bases a volume holds or should hold
as a primary, from the volume indexes of ``db-indexer`` (its own and its peers', so the
list survives the volume's loss): what ``oiofs-meta2-rebuilder --volume`` rebuilds."""

from __future__ import annotations

import argparse
from typing import Any

from oiofs.cli.admin.common import admin_client, progress, run_command
from oiofs.cli.admin.output import emit
from oiofs.directory.indexer import collect_volume_bases


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("volume", help="what a volume (device) holds")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    bases = verbs.add_parser("bases", help="the bases of a volume, from the indexes")
    bases.add_argument("volume", help="ip:port/device of the ring")
    bases.add_argument("--type", default="container", choices=("container", "account"))


def _bases(args: argparse.Namespace) -> int:
    bases, unreachable = collect_volume_bases(admin_client(args), args.type, args.volume)
    for netloc in unreachable:
        progress(f"warning: {netloc} did not answer: its volumes' indexes are missing")
    emit(bases, args.format, ["type", "account", "container", "partition", "hash"])
    return 1 if unreachable else 0


def run(args: argparse.Namespace) -> int:
    return run_command({"bases": _bases}, args, "volume")
