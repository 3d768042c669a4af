"""``oiofs-dispersion-populate [conf]``: spread sample containers and objects over the rings.

Containers ``dispersion_<n>`` are created until ``dispersion_coverage`` percent of the
container ring's partitions hold one; then objects ``dispersion_<n>`` (empty) in the
container ``dispersion_objects_<policy index>`` (made with that policy) until the same share
of the policy's object partitions hold one. Names are tried in order from the
``--container-suffix-start`` / ``--object-suffix-start`` (0), and a name whose partition
already has one is skipped, so every created name is on a partition of its own. Everything
goes through the proxy with :mod:`oiofs.client`, as a user's requests would.

Exit status: 0 when all were created, 1 when some could not be, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import unquote

from oiofs.cli.dispersion.conf import (
    CONTAINER_PREFIX,
    DEFAULT_CONF,
    OBJECT_PREFIX,
    DispersionConf,
    load_dispersion_conf,
    object_container,
)
from oiofs.client import ClientError, Connection
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.exceptions import ConfigError, RingError
from oiofs.common.ring.ring import Ring
from oiofs.common.storage_policy import POLICIES, StoragePolicy


def account_of(conn: Connection) -> str:
    """The account name of the connection's storage URL (``.../v1/AUTH_test``)."""
    conn.authenticate()
    url = conn.url or ""
    return unquote(url.rstrip("/").rsplit("/", 1)[-1])


def spread_names(ring: Ring, wanted: int, name_of: Callable[[int], tuple[str, ...]],
                 start: int = 0) -> Iterator[tuple[int, tuple[str, ...]]]:
    """``(suffix, name)`` for names ``name_of(start)``, ``name_of(start + 1)``... whose
    partitions are not yet taken, until ``wanted`` partitions are (or a hundred times the
    partition count was tried: a ring where that is not enough is refused)."""
    taken: set[int] = set()
    limit = start + 100 * ring.partition_count
    suffix = start
    while len(taken) < wanted:
        if suffix >= limit:
            raise RingError(f"{ring.partition_count} partitions: could not reach {wanted} "
                            "partitions with dispersion names")
        parts = name_of(suffix)
        part = ring.get_part(*parts)
        if part not in taken:
            taken.add(part)
            yield suffix, parts
        suffix += 1


def wanted_partitions(ring: Ring, coverage: float) -> int:
    """How many partitions ``coverage`` percent of the ring is (at least one)."""
    return max(1, math.ceil(ring.partition_count * coverage / 100))


def _run(conf: DispersionConf, work: list[Callable[[], object]]) -> int:
    """Run every job with ``concurrency`` threads; how many failed (each said why)."""
    def safe(job: Callable[[], object]) -> bool:
        try:
            job()
            return True
        except (ClientError, OSError) as err:
            print(f"oiofs-dispersion-populate: {err}", file=sys.stderr)
            return False
    with ThreadPoolExecutor(max_workers=conf.concurrency) as pool:
        return sum(1 for ok in pool.map(safe, work) if not ok)


def _populate(conf: DispersionConf, ring: Ring, name_of: Callable[[int], tuple[str, ...]],
              start: int, put: Callable[[str], object]) -> tuple[int, int]:
    """``put`` the last part of each name :func:`spread_names` gives; ``(created, failed)``."""
    names = [parts[-1] for _, parts in spread_names(
        ring, wanted_partitions(ring, conf.coverage), name_of, start)]
    failed = _run(conf, [partial(put, name) for name in names])
    return len(names) - failed, failed


def populate_containers(conn: Connection, conf: DispersionConf, account: str,
                        policy: StoragePolicy, start: int = 0) -> tuple[int, int]:
    """Create the container sample; ``(created, failed)``."""
    headers = {"X-Storage-Policy": policy.name}
    return _populate(conf, Ring(conf.oiofs_dir, ring_name="container"),
                     lambda n: (account, f"{CONTAINER_PREFIX}{n}"), start,
                     partial(conn.put_container, headers=headers))


def populate_objects(conn: Connection, conf: DispersionConf, account: str,
                     policy: StoragePolicy, start: int = 0) -> tuple[int, int]:
    """Create the object sample of ``policy``; ``(created, failed)``."""
    container = object_container(policy.idx)
    conn.put_container(container, headers={"X-Storage-Policy": policy.name})
    return _populate(conf, Ring(conf.oiofs_dir, ring_name=policy.ring_name),
                     lambda n: (account, container, f"{OBJECT_PREFIX}{n}"), start,
                     lambda name: conn.put_object(container, name, b"",
                                                  content_type="text/plain"))


def choose_policy(name: str | None) -> StoragePolicy:
    """The policy named ``name`` (the default policy when ``None``)."""
    if name is None:
        return POLICIES.default
    policy = POLICIES.get_by_name(name)
    if policy is None:
        raise ConfigError(f"no storage policy named {name!r} (known: "
                          f"{', '.join(p.name for p in POLICIES)})")
    return policy


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``oiofs-dispersion-populate``."""
    parser = argparse.ArgumentParser(prog="oiofs-dispersion-populate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("conf", nargs="?", default=DEFAULT_CONF,
                        help=f"dispersion.conf (default {DEFAULT_CONF})")
    parser.add_argument("--container-only", action="store_true")
    parser.add_argument("--object-only", action="store_true")
    parser.add_argument("-P", "--policy-name", help="the objects' policy (default: the "
                                                    "default policy)")
    parser.add_argument("--container-suffix-start", type=int, default=0)
    parser.add_argument("--object-suffix-start", type=int, default=0)
    opts = parser.parse_args(argv)
    if opts.container_only and opts.object_only:
        parser.error("--container-only and --object-only exclude each other")
    try:
        conf = load_dispersion_conf(opts.conf)
        load_cluster_config(conf.oiofs_dir)
        policy = choose_policy(opts.policy_name)
        conn = Connection(conf.auth_url, conf.auth_user, conf.auth_key)
        account = account_of(conn)
        jobs: list[tuple[str, Callable[[], tuple[int, int]]]] = []
        if conf.container_populate and not opts.object_only:
            jobs.append(("containers", partial(populate_containers, conn, conf, account,
                                               policy, opts.container_suffix_start)))
        if conf.object_populate and not opts.container_only:
            jobs.append((f"objects ({policy.name})", partial(
                populate_objects, conn, conf, account, policy, opts.object_suffix_start)))
        failed = 0
        for what, job in jobs:
            began = time.monotonic()
            done, bad = job()
            failed += bad
            print(f"Created {done} {what} for dispersion reporting, "
                  f"{time.monotonic() - began:.0f}s, {bad} failed")
    except (ConfigError, RingError, ClientError, OSError) as err:
        print(f"oiofs-dispersion-populate: {err}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
