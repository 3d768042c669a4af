"""Helpers for erasure-coding tests: the all-in-one's EC policy and its archives on disk."""

from __future__ import annotations

import glob
import os

from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring
from oiofs.obj import filenames

#: the all-in-one's erasure-coded policy (oiofs.cli.allinone.layout)
EC_POLICY = "ec42"
EC_INDEX = 1


def archive_files(cluster, account: str, container: str, obj: str) -> dict[int, str]:
    """``{fragment index: path}`` of the durable fragment archives of an object on every
    device of the cluster (the test process must use the cluster's hash secret)."""
    name_hash = hash_path(account, container, obj)
    pattern = os.path.join(cluster.root, "data", "node*", "*", f"objects-{EC_INDEX}", "*",
                           name_hash[-3:], name_hash, "*.data")
    found = {}
    for path in glob.glob(pattern):
        parsed = filenames.parse_filename(os.path.basename(path))
        if parsed is not None and parsed.durable and parsed.frag_index is not None:
            found[parsed.frag_index] = path
    return found


def fragment_nodes(cluster, account: str, container: str, obj: str) -> list[int]:
    """Per fragment index (slot order): the all-in-one node number holding it."""
    ring = Ring(cluster.oiofs_dir, ring_name=f"object-{EC_INDEX}")
    by_port = {n["object_port"]: n["node"] for n in cluster.nodes}
    _part, nodes = ring.get_nodes(account, container, obj)
    return [by_port[n["port"]] for n in nodes]
