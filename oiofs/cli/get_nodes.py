"""``oiofs-get-nodes <ring.gz> <account> [<container> [<object>]]``: where a name lives.

Prints the partition and hash of the name, its primary nodes and a few handoffs, ``curl``
lines that ask each of them for it over the backend protocol, and where its files sit on
each device. ``-p/--partition N`` lists the nodes of a partition instead of a name. The
name may also be given as one argument, ``account/container/object``, as with
``swift-get-nodes``.

The file paths use each node's real ``devices`` directory: ``--devices DIR`` for every
node, else the one read from the server configuration files (``*.conf`` in the cluster
directory and its subdirectories, as an all-in-one cluster keeps them) whose
``bind_ip:bind_port`` is the node's, else ``/srv/node``. Output cut short by a closed
pipe (``| head``) ends quietly.

The name is hashed with the cluster secret from ``oiofs.conf``, looked for in
``--oiofs-dir``, else ``$OIOFS_DIR``, else the ring's directory, else ``/etc/oiofs``.
Exit status: 0 success, 2 error.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from configparser import Error as ConfigParserError

from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import DEFAULT_OIOFS_DIR, load_server_conf
from oiofs.common.exceptions import ConfigError, RingError
from oiofs.common.hashing import hash_path, quote_path
from oiofs.common.ring.ring import Ring

EXIT_SUCCESS = 0
EXIT_ERROR = 2
#: the devices directory of a node whose server configuration is not found
DEFAULT_DEVICES = "/srv/node"


def _cluster_dir(option: str | None, ring_path: str) -> str:
    if option:
        return option
    if os.environ.get("OIOFS_DIR"):
        return os.environ["OIOFS_DIR"]
    ring_dir = os.path.dirname(os.path.abspath(ring_path))
    if os.path.exists(os.path.join(ring_dir, "oiofs.conf")):
        return ring_dir
    return DEFAULT_OIOFS_DIR


def _ring_kind(ring_path: str) -> tuple[str, int | None]:
    """``("objects", 2)`` for ``object-2.ring.gz``; the data directory and policy index."""
    name = os.path.basename(ring_path)
    match = re.match(r"^(account|container|object)(?:-(\d+))?\.ring\.gz$", name)
    if not match:
        return "", None
    kind, index = match.group(1), match.group(2)
    policy = int(index) if index else (0 if kind == "object" else None)
    base = {"account": "accounts", "container": "containers", "object": "objects"}[kind]
    return (f"{base}-{index}" if index else base), policy


def split_name(names: list[str]) -> list[str]:
    """``["a/c/o/p"]`` as ``["a", "c", "o/p"]`` (one argument naming the path); other
    lists as they are.

    >>> split_name(["AUTH_test/c/o/with/slash"]), split_name(["/AUTH_test"])
    (['AUTH_test', 'c', 'o/with/slash'], ['AUTH_test'])
    >>> split_name(["AUTH_test", "c/d"])
    ['AUTH_test', 'c/d']
    """
    if len(names) == 1 and "/" in names[0]:
        return names[0].lstrip("/").split("/", 2)
    return names


def devices_by_address(cluster_dir: str) -> dict[tuple[str, int], str]:
    """``(bind_ip, bind_port) -> devices`` of the server configs found in ``cluster_dir``
    and its subdirectories (unreadable files are skipped)."""
    found: dict[tuple[str, int], str] = {}
    for path in sorted(glob.glob(os.path.join(cluster_dir, "*.conf"))
                       + glob.glob(os.path.join(cluster_dir, "*", "*.conf"))):
        try:
            conf = load_server_conf(path)
            port = int(conf.get("bind_port", 0))
        except (OSError, ValueError, ConfigParserError):
            continue
        if conf.get("devices") and port:
            found[(str(conf.get("bind_ip", "127.0.0.1")), port)] = str(conf["devices"])
    return found


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oiofs-get-nodes",
        description="Show the partition and the nodes of an account, container or object.")
    parser.add_argument("ring", help="ring file, e.g. /etc/oiofs/object.ring.gz")
    parser.add_argument("names", nargs="*", metavar="name",
                        help="<account> [<container> [<object>]]")
    parser.add_argument("-p", "--partition", type=int, help="show a partition's nodes")
    parser.add_argument("--handoffs", type=int, default=None,
                        help="handoff nodes to show (default: the replica count)")
    parser.add_argument("--oiofs-dir", help="directory holding oiofs.conf")
    parser.add_argument("--devices", help="devices directory of every node (default: "
                        "from the servers' configs in the cluster directory, else "
                        f"{DEFAULT_DEVICES})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print where a name (or partition) lives; returns the exit status."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, and keep the interpreter's
        # final flush of stdout from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SUCCESS


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    opts = parser.parse_args(argv)
    opts.names = split_name(opts.names)
    if not all(opts.names):
        parser.error("an account, container or object name is empty")
    if opts.partition is None and not 1 <= len(opts.names) <= 3:
        parser.error("give <account> [<container> [<object>]] or --partition")
    if opts.partition is not None and opts.names:
        parser.error("give either a name or --partition, not both")
    try:
        ring = Ring(opts.ring)
    except RingError as err:
        print(f"Error: {err}", file=sys.stderr)
        return EXIT_ERROR
    out = sys.stdout
    cluster_dir = _cluster_dir(opts.oiofs_dir, opts.ring)
    account, container, obj = (list(opts.names) + [None, None, None])[:3]
    if opts.partition is not None:
        part = opts.partition
        if not 0 <= part < ring.partition_count:
            print(f"Error: partition {part} is not in 0..{ring.partition_count - 1}",
                  file=sys.stderr)
            return EXIT_ERROR
        digest = None
    else:
        try:
            load_cluster_config(cluster_dir)
        except ConfigError as err:
            print(f"Error: {err} (the hash secret is needed to place names)",
                  file=sys.stderr)
            return EXIT_ERROR
        part = ring.get_part(account, container, obj)
        digest = hash_path(account, container, obj)
    primaries = ring.get_part_nodes(part)
    count = ring.replica_count if opts.handoffs is None else max(0, opts.handoffs)
    handoffs: list[dict] = []
    for node in ring.get_more_nodes(part):
        if len(handoffs) >= count:
            break
        handoffs.append(node)
    data_dir, policy = _ring_kind(opts.ring)

    print(f"Ring        {opts.ring}", file=out)
    for label, value in (("Account", account), ("Container", container), ("Object", obj)):
        if value is not None:
            print(f"{label:<11} {value}", file=out)
    print(f"Partition   {part}", file=out)
    if digest:
        print(f"Hash        {digest}", file=out)
    print(file=out)
    for node in primaries + handoffs:
        mark = "  [Handoff]" if "handoff_index" in node else ""
        print(f"Server:Port Device  {_host(node['ip'])}:{node['port']} {node['device']}"
              f"{mark}", file=out)
    print(file=out)
    path = "/" + "/".join(str(p) for p in (account, container, obj) if p is not None)
    header = f' -H "{POLICY_INDEX_HEADER}: {policy}"' if policy else ""
    for node in primaries + handoffs:
        url = (f"http://{_host(node['ip'])}:{node['port']}/{node['device']}/{part}"
               + (quote_path(path) if opts.partition is None else ""))
        mark = " # [Handoff]" if "handoff_index" in node else ""
        print(f'curl -g -I -XHEAD "{url}"{header}{mark}', file=out)
    if data_dir:
        print(file=out)
        print("On each device:", file=out)
        devices = {} if opts.devices else devices_by_address(cluster_dir)
        for node in primaries + handoffs:
            root = opts.devices or devices.get((node["ip"], node["port"]), DEFAULT_DEVICES)
            where = f"{root.rstrip('/')}/{node['device']}/{data_dir}/{part}"
            if digest:
                where += f"/{digest[-3:]}/{digest}"
            mark = "  # [Handoff]" if "handoff_index" in node else ""
            print(f'ssh {_host(node["ip"])} "ls -lah {where}"{mark}', file=out)
    if len({node["id"] for node in primaries}) < ring.replica_count:
        print("\nNote: fewer devices than replicas; some replicas share a device.", file=out)
    return EXIT_SUCCESS


if __name__ == "__main__":
    raise SystemExit(main())
