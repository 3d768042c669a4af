"""Where ``oiofs-admin`` finds the directory.

In this order: ``--directory URL[,URL...]`` (an option of each group that talks to the
directory, :func:`add_directory_option`), the ``OIOFS_DIRECTORY`` environment variable,
then ``directory_endpoints`` in ``<oiofs-dir>/proxy-server.conf`` (the proxy's own
setting: an all-in-one cluster's ``etc`` directory has it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from oiofs.cli.output import say
from oiofs.common.config import oiofs_dir, parse_ini


class NoDirectory(Exception):
    """No directory endpoint is configured anywhere ``oiofs-admin`` looks."""


def add_directory_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--directory`` to a group's parser."""
    parser.add_argument("--directory", default=None, metavar="URL[,URL]",
                        help="the directory's endpoints (default: $OIOFS_DIRECTORY, else "
                             "directory_endpoints of <oiofs-dir>/proxy-server.conf)")


def directory_endpoints(args: argparse.Namespace) -> list[str]:
    """The directory endpoints ``args`` lead to (:class:`NoDirectory` if none)."""
    value = getattr(args, "directory", None) or os.environ.get("OIOFS_DIRECTORY")
    if not value:
        path = os.path.join(oiofs_dir({"oiofs_dir": getattr(args, "oiofs_dir", None)}),
                            "proxy-server.conf")
        if os.path.exists(path):
            value = parse_ini(path).defaults().get("directory_endpoints")
    endpoints = [e.strip().rstrip("/") for e in (value or "").split(",") if e.strip()]
    if not endpoints:
        raise NoDirectory("no directory: give --directory URL, set OIOFS_DIRECTORY, or "
                          "set directory_endpoints in <oiofs-dir>/proxy-server.conf")
    return endpoints


def run_against_directory(args: argparse.Namespace,
                          command: Callable[[list[str]], int]) -> int:
    """Run ``command(endpoints)``; a directory error is printed (exit 1), a missing
    endpoint too (exit 2)."""
    from oiofs.directory.errors import DirectoryError

    try:
        return command(directory_endpoints(args))
    except NoDirectory as err:
        say(f"oiofs-admin: {err}", sys.stderr)
        return 2
    except DirectoryError as err:
        say(f"oiofs-admin: {type(err).__name__} ({err.status}): {err}", sys.stderr)
        return 1
