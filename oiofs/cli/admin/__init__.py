"""``oiofs-admin <group> <verb> ...``: the operator's tool for the directory and the bases.

Each command group is one module of this package with two functions::

    def add_parser(subparsers) -> None     # adds ``<group>`` and its verbs
    def run(args) -> int                   # runs the parsed command, returns the exit code

listed in :data:`GROUPS` (imported only when that group is asked for, so one group's
imports never slow down another's). ``-f json`` prints machine-readable output, the
default prints human tables (:func:`oiofs.cli.admin.output.emit`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

#: group name -> module implementing it
GROUPS: dict[str, str] = {
    "service": "oiofs.cli.admin.service",
    "reference": "oiofs.cli.admin.reference",
    "meta0": "oiofs.cli.admin.meta0",
    "base": "oiofs.cli.admin.base",
    "config": "oiofs.cli.admin.config",
    "cache": "oiofs.cli.admin.cache",
    "volume": "oiofs.cli.admin.volume",
}


def _group_module(name: str) -> ModuleType:
    return importlib.import_module(GROUPS[name])


def build_parser() -> argparse.ArgumentParser:
    """The whole ``oiofs-admin`` parser: common options and every group's verbs."""
    parser = argparse.ArgumentParser(prog="oiofs-admin",
                                     description="Operate an oiofs cluster's directory, "
                                                 "services and bases.")
    parser.add_argument("-f", "--format", choices=("table", "json"), default="table",
                        help="output format (default: table)")
    parser.add_argument("--oiofs-dir", default=None,
                        help="the cluster's configuration directory (default: the "
                             "OIOFS_DIR environment variable, else /etc/oiofs)")
    subparsers = parser.add_subparsers(dest="group", metavar="GROUP")
    for name in GROUPS:
        _group_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen group's verb."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.group:
        parser.print_help()
        return 2
    result: int = _group_module(args.group).run(args)
    return result
