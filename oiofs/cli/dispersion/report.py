"""``oiofs-dispersion-report [conf]``: how many copies of the dispersion sample are in place.

The sample names come from listings through the proxy (containers ``dispersion_<n>``,
objects of ``dispersion_objects_<policy index>``); each name's copies are then asked for
directly (``HEAD`` over the backend protocol, :mod:`oiofs.common.direct_client`) on every
primary node the ring gives for it. A copy counts as found when its node answers 2xx; a node
that does not answer is retried ``retries`` times, then counts as missing. The report gives
the share of copies found, the share of items with every copy, and how many partitions miss
how many copies; ``--json`` (or ``dump_json = yes``) prints it as JSON.

Exit status: 0 when every copy was found, 1 when some are missing, 2 when the report could
not be made (configuration, proxy, no sample: run ``oiofs-dispersion-populate`` first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from oiofs.cli.dispersion.conf import (
    CONTAINER_PREFIX,
    DEFAULT_CONF,
    OBJECT_CONTAINER_PREFIX,
    OBJECT_PREFIX,
    DispersionConf,
    load_dispersion_conf,
    object_container,
)
from oiofs.cli.dispersion.populate import account_of, choose_policy
from oiofs.client import ClientError, Connection, NotFound
from oiofs.common.backend_protocol import POLICY_INDEX_HEADER
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.exceptions import ClientException, ConfigError, OiofsError, RingError
from oiofs.common.ring.ring import Ring

USER_AGENT = "oiofs-dispersion-report"


@dataclass
class Dispersion:
    """What the report found for one kind (``container`` or ``object``)."""

    kind: str
    replicas: int
    partitions: int
    queried: int = 0
    copies_expected: int = 0
    copies_found: int = 0
    retries: int = 0
    #: copies missing -> how many items miss that many
    missing: Counter[int] = field(default_factory=Counter)
    #: ``ip:port/device`` -> copies it should have had and did not
    missing_on: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, expected: int, found: int, retries: int, missing_on: list[str]) -> None:
        """Count one item with ``found`` of its ``expected`` copies."""
        self.queried += 1
        self.copies_expected += expected
        self.copies_found += found
        self.retries += retries
        self.missing[expected - found] += 1
        self.missing_on.update(missing_on)

    @property
    def pct_found(self) -> float:
        """Percent of the expected copies that were found."""
        return 100.0 * self.copies_found / self.copies_expected if self.copies_expected \
            else 0.0

    @property
    def pct_complete(self) -> float:
        """Percent of the items that have every copy."""
        return 100.0 * self.missing[0] / self.queried if self.queried else 0.0

    def as_json(self) -> dict[str, Any]:
        """The figures as a JSON object (Swift's keys, plus ours)."""
        result: dict[str, Any] = {
            "queried": self.queried, "copies_expected": self.copies_expected,
            "copies_found": self.copies_found, "pct_found": round(self.pct_found, 2),
            "items_complete": self.missing[0], "pct_complete": round(self.pct_complete, 2),
            "retries": self.retries, "overlapping": 0,
            "sample_pct": round(100.0 * self.queried / self.partitions, 2)
            if self.partitions else 0.0,
            "missing_on": dict(sorted(self.missing_on.items()))}
        for count in range(self.replicas + 1):
            result[f"missing_{count}"] = self.missing[count]
        words = {1: "missing_one", 2: "missing_two"}
        for count, word in words.items():
            result[word] = self.missing[count]
        result["missing_all"] = self.missing[self.replicas]
        return result

    def lines(self) -> list[str]:
        """The human report, as ``swift-dispersion-report`` prints it."""
        plural = "s" if self.queried != 1 else ""
        out = [f"Queried {self.queried} {self.kind}{plural} for dispersion reporting, "
               f"{self.seconds:.0f}s, {self.retries} retries"]
        for count in range(1, self.replicas + 1):
            if self.missing[count]:
                mark = "! " if count > 1 else ""
                copies = "copy" if count == 1 else "copies"
                out.append(f"{mark}There were {self.missing[count]} partitions missing "
                           f"{count} {copies}.")
        out.append(f"{self.pct_found:.2f}% of {self.kind} copies found ({self.copies_found} "
                   f"of {self.copies_expected})")
        out.append(f"{self.pct_complete:.2f}% of {self.kind}s have all their copies "
                   f"({self.missing[0]} of {self.queried})")
        if self.partitions:
            out.append(f"Sample represents {100.0 * self.queried / self.partitions:.2f}% of "
                       f"the {self.kind} partition space")
        return out


def _head_copy(conf: DispersionConf, node: dict[str, Any], path: str,
               headers: dict[str, str]) -> tuple[bool, int]:
    """``(found, retries)`` for one copy: 2xx is found, 404 (or no answer) is not."""
    retries = 0
    while True:
        try:
            resp = direct_request(node["ip"], int(node["port"]), "HEAD", path, headers,
                                  conn_timeout=conf.conn_timeout,
                                  response_timeout=conf.node_timeout)
            return 200 <= resp.status < 300, retries
        except (ClientException, OiofsError):
            if retries >= conf.retries:
                return False, retries
            retries += 1
            time.sleep(min(0.1 * retries, 1.0))


def check_item(conf: DispersionConf, ring: Ring, account: str, container: str,
               obj: str | None = None, headers: dict[str, str] | None = None,
               ) -> tuple[int, int, int, list[str]]:
    """``(expected, found, retries, [missing ip:port/device])`` of one container/object."""
    part, nodes = ring.get_nodes(account, container, obj)
    found = retries = 0
    missing = []
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    for node in nodes:
        path = backend_path(node["device"], part, account, container, obj)
        ok, tries = _head_copy(conf, node, path, all_headers)
        retries += tries
        if ok:
            found += 1
        else:
            missing.append(f"{node['ip']}:{node['port']}/{node['device']}")
    return len(nodes), found, retries, missing


def _check_all(conf: DispersionConf, result: Dispersion,
               jobs: list[Callable[[], tuple[int, int, int, list[str]]]]) -> Dispersion:
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=conf.concurrency) as pool:
        for outcome in pool.map(lambda job: job(), jobs):
            result.add(*outcome)
    result.seconds = time.monotonic() - began
    return result


def container_report(conn: Connection, conf: DispersionConf, account: str) -> Dispersion:
    """Check every copy of every container of the sample."""
    ring = Ring(conf.oiofs_dir, ring_name="container")
    names = [c["name"] for c in conn.list_containers(prefix=CONTAINER_PREFIX)
             if not c["name"].startswith(OBJECT_CONTAINER_PREFIX)]
    if not names:
        raise ConfigError("no dispersion containers: run oiofs-dispersion-populate first")
    result = Dispersion("container", ring.replica_count, ring.partition_count)
    return _check_all(conf, result, [partial(check_item, conf, ring, account, n)
                                     for n in names])


def object_report(conn: Connection, conf: DispersionConf, account: str,
                  policy_name: str | None) -> Dispersion:
    """Check every copy of every object of the policy's sample."""
    policy = choose_policy(policy_name)
    ring = Ring(conf.oiofs_dir, ring_name=policy.ring_name)
    container = object_container(policy.idx)
    try:
        names = [o["name"] for o in conn.list_objects(container, prefix=OBJECT_PREFIX)]
    except NotFound:
        names = []
    if not names:
        raise ConfigError(f"no dispersion objects for policy {policy.name}: run "
                          "oiofs-dispersion-populate first")
    headers = {POLICY_INDEX_HEADER: str(policy.idx)}
    result = Dispersion("object", ring.replica_count, ring.partition_count)
    return _check_all(conf, result, [
        partial(check_item, conf, ring, account, container, n, headers) for n in names])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``oiofs-dispersion-report``."""
    parser = argparse.ArgumentParser(prog="oiofs-dispersion-report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("conf", nargs="?", default=DEFAULT_CONF,
                        help=f"dispersion.conf (default {DEFAULT_CONF})")
    parser.add_argument("-j", "--dump-json", "--json", dest="json", action="store_true",
                        help="print the report as JSON")
    parser.add_argument("--container-only", action="store_true")
    parser.add_argument("--object-only", action="store_true")
    parser.add_argument("-P", "--policy-name", help="the objects' policy (default: the "
                                                    "default policy)")
    opts = parser.parse_args(argv)
    if opts.container_only and opts.object_only:
        parser.error("--container-only and --object-only exclude each other")
    results: dict[str, Dispersion] = {}
    try:
        conf = load_dispersion_conf(opts.conf)
        load_cluster_config(conf.oiofs_dir)
        conn = Connection(conf.auth_url, conf.auth_user, conf.auth_key)
        account = account_of(conn)
        if conf.container_report and not opts.object_only:
            results["container"] = container_report(conn, conf, account)
        if conf.object_report and not opts.container_only:
            results["object"] = object_report(conn, conf, account, opts.policy_name)
    except (ConfigError, RingError, ClientError, OSError) as err:
        print(f"oiofs-dispersion-report: {err}", file=sys.stderr)
        return 2
    if opts.json or conf.dump_json:
        print(json.dumps({kind: r.as_json() for kind, r in results.items()}, sort_keys=True))
    else:
        for result in results.values():
            print("\n".join(result.lines()))
    complete = all(r.copies_found == r.copies_expected for r in results.values())
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
