"""``oiofs-meta2-rebuilder`` (the seed's ``Meta2Rebuilder``): rebuild every base of a lost
volume.

The bases come from an input file (one ``account/container`` a line) or from the volume
indexes (``--volume ip:port/device``, :func:`oiofs.directory.indexer.collect_volume_bases`).
Each is rebuilt by :meth:`oiofs.directory.meta2.Meta2Database.rebuild` (every primary
without a replica gets a verified copy of the most up to date one), ``workers`` at a
time; a progress line every ``report_interval`` seconds and a summary at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oiofs.directory.admin_client import AdminClient, AdminError
from oiofs.directory.indexer import collect_volume_bases
from oiofs.directory.meta2 import Meta2Database


class Meta2Rebuilder:
    """Rebuild the bases of a lost volume (or of a list), with a worker pool."""

    def __init__(self, conf: dict[str, Any], input_file: str | None = None,
                 service_id: str | None = None, workers: int = 4,
                 admin_client: AdminClient | None = None, service_type: str = "container",
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 report_interval: float = 5.0, **kwargs: Any):
        self.conf = conf
        self.input_file = input_file
        self.service_id = service_id
        self.workers = max(1, workers)
        self.admin = admin_client or AdminClient(conf, **kwargs)
        self.service_type = service_type
        self.meta2 = Meta2Database(conf, admin_client=self.admin, service_type=service_type)
        self.progress = progress
        self.report_interval = report_interval
        self.stats = {"total": 0, "done": 0, "rebuilt_replicas": 0, "failed": 0}
        self.failures: list[dict[str, Any]] = []

    @staticmethod
    def string_from_item(item: dict[str, Any]) -> str:
        return f"{item['account']}/{item.get('container') or ''}"

    def items(self) -> Iterator[dict[str, Any]]:
        """The bases to rebuild."""
        if self.input_file:
            with open(self.input_file, encoding="utf-8") as handle:
                for line in handle:
                    account, _, container = line.strip().partition("/")
                    if account:
                        yield {"account": account, "container": container or None}
            return
        if not self.service_id:
            raise ValueError("give an input file or the lost volume (service_id)")
        bases, _unreachable = collect_volume_bases(self.admin, self.service_type,
                                                   self.service_id)
        yield from bases

    def _rebuild(self, item: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.meta2.rebuild(item["account"], item.get("container"))
        except AdminError as err:
            return {"error": str(err)}

    def run(self) -> dict[str, Any]:
        """Rebuild every item; the counters (and ``failures``)."""
        items = list(self.items())
        self.stats["total"] = len(items)
        last = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            for item, result in zip(items, pool.map(self._rebuild, items), strict=True):
                self.stats["done"] += 1
                self.stats["rebuilt_replicas"] += len(result.get("rebuilt", {}))
                if result.get("error") or result.get("failed"):
                    self.stats["failed"] += 1
                    self.failures.append({"base": self.string_from_item(item), **result})
                now = time.monotonic()
                if self.progress and (now - last >= self.report_interval
                                      or self.stats["done"] == len(items)):
                    last = now
                    self.progress(dict(self.stats))
        return dict(self.stats, failures=self.failures)


def main(argv: list[str] | None = None) -> int:
    """``oiofs-meta2-rebuilder``: exit status 0 if every base was rebuilt, 1 if not."""
    parser = argparse.ArgumentParser(prog="oiofs-meta2-rebuilder",
                                     description="Rebuild every base of a lost volume.")
    parser.add_argument("--oiofs-dir", default=None, help="the rings' directory")
    parser.add_argument("--volume", help="the lost volume, ip:port/device of the ring")
    parser.add_argument("--input-file", help="bases to rebuild, account/container a line")
    parser.add_argument("--type", default="container", choices=("container", "account"))
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    conf = {"oiofs_dir": args.oiofs_dir} if args.oiofs_dir else {}

    def progress(stats: dict[str, Any]) -> None:
        print(f"{stats['done']}/{stats['total']} bases, {stats['rebuilt_replicas']} "
              f"replicas rebuilt, {stats['failed']} failed", file=sys.stderr, flush=True)

    rebuilder = Meta2Rebuilder(conf, input_file=args.input_file, service_id=args.volume,
                               workers=args.workers, service_type=args.type,
                               progress=progress)
    result = rebuilder.run()
    for failure in result["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
