"""What the base, config, cache and volume groups of ``oiofs-admin`` share: the admin
client of the cluster named by ``--oiofs-dir``, progress lines, and one way to report a
failed request (exit status 1, the server's reason on stderr)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from oiofs.cli.output import say
from oiofs.directory.admin_client import AdminClient, AdminError


def admin_client(args: argparse.Namespace) -> AdminClient:
    """The admin client of the cluster whose rings are in ``--oiofs-dir``."""
    return AdminClient({}, oiofs_dir_path=args.oiofs_dir)


def progress(line: str) -> None:
    """One progress line of a long operation (stderr: stdout stays the result)."""
    say(line, sys.stderr)


def add_base_arguments(parser: argparse.ArgumentParser) -> None:
    """``<account> [<container>]`` and ``--type``."""
    parser.add_argument("account")
    parser.add_argument("container", nargs="?", default=None)
    parser.add_argument("--type", default="container", choices=("container", "account"),
                        help="a container base (default) or an account base")


def run_command(verbs: dict[str, Callable[[argparse.Namespace], int]],
                args: argparse.Namespace, group: str) -> int:
    """Run the group's verb; ``AdminError`` and bad input become exit status 1."""
    verb = verbs.get(getattr(args, "verb", None) or "")
    if verb is None:
        progress(f"oiofs-admin {group}: give a verb ({', '.join(sorted(verbs))})")
        return 2
    try:
        return verb(args)
    except (AdminError, ValueError) as err:
        progress(f"oiofs-admin {group} {args.verb}: {err}")
        return 1


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` as a dict; ``ValueError`` for an item without ``=``."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected name=value, got {pair!r}")
        result[key] = value
    return result
