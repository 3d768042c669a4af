"""``oiofs-bench``: benchmark any Swift v1 endpoint (tempauth v1) on this machine.

Small-object PUT/GET/HEAD/DELETE rates and latencies, large-object PUT/GET throughput, and
the time to list a big container, every answer verified. Loopback targets only. Exit status:
0 all good, 1 some request errored or some answer was wrong, 2 bad usage, refused target or
failed authentication, 130 interrupted (Ctrl-C or SIGTERM; the cleanup still runs).

    oiofs-bench --auth http://127.0.0.1:8080/auth/v1.0 --user test:tester --key testing \\
        --concurrency 16 --objects 2000 --duration 20 \\
        --cpu-pids ~/.local/state/oiofs/allinone/run/*.pid
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from oiofs.bench.config import BenchConfig, parse_size
from oiofs.bench.cpu import CpuMeter, pids_matching, read_pid_files
from oiofs.bench.errors import BenchError
from oiofs.bench.report import format_table, to_json
from oiofs.bench.workload import Bench


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (each maps to a :class:`BenchConfig` field)."""
    parser = argparse.ArgumentParser(
        prog="oiofs-bench", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--auth", default=os.environ.get("ST_AUTH"),
        help="tempauth v1 URL, e.g. http://127.0.0.1:8080/auth/v1.0 (default $ST_AUTH)")
    add("--user", default=os.environ.get("ST_USER"), help="account:user (default $ST_USER)")
    add("--key", default=os.environ.get("ST_KEY"), help="the user's key (default $ST_KEY)")
    add("--concurrency", type=int, default=16, help="worker threads, one connection each")
    add("--size", type=_size, default=4096, help="small object size (default 4KiB)")
    add("--objects", type=int, help="requests per small-object phase (default 1000 "
        "unless --duration is given)")
    add("--duration", type=float, help="seconds per small-object phase at most")
    add("--large-size", type=_size, default=64 * 1024 * 1024,
        help="large object size (default 64MiB)")
    add("--large-count", type=int, default=4, help="large objects to PUT then GET")
    add("--list-objects", type=int, default=10_000, help="objects in the listed container")
    add("--list-page", type=int, default=10_000, help="names asked per listing page")
    add("--skip-small", action="store_true", help="skip the small-object phases")
    add("--skip-large", action="store_true", help="skip the large-object phases")
    add("--skip-list", action="store_true", help="skip the listing phase")
    add("--timeout", type=float, default=60.0, help="socket timeout per request, seconds")
    add("--storage-policy", metavar="NAME",
        help="X-Storage-Policy of the run's containers (default: the cluster's)")
    add("--cpu-pids", nargs="+", metavar="FILE",
        help="files of server pids (one a line); their CPU and their children's is reported")
    add("--cpu-pattern", metavar="REGEX",
        help="measure the CPU of processes whose command line matches REGEX")
    add("--json", action="store_true",
        help="print a JSON document on stdout (the table then goes to stderr)")
    add("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` the parsed options describe."""
    objects = args.objects
    if objects is None and args.duration is None:
        objects = 1000
    return BenchConfig(auth_url=args.auth, user=args.user, key=args.key,
                       concurrency=args.concurrency, size=args.size, objects=objects,
                       duration=args.duration, large_size=args.large_size,
                       large_count=args.large_count, list_objects=args.list_objects,
                       list_page=args.list_page, skip_small=args.skip_small,
                       skip_large=args.skip_large, skip_list=args.skip_list,
                       timeout=args.timeout, storage_policy=args.storage_policy)


def make_meter(args: argparse.Namespace) -> CpuMeter | None:
    """A CPU meter over the pids the options name, or ``None`` when none was asked."""
    pids: list[int] = []
    if args.cpu_pids:
        pids += read_pid_files(args.cpu_pids)
    if args.cpu_pattern:
        pids += pids_matching(args.cpu_pattern)
    if not args.cpu_pids and not args.cpu_pattern:
        return None
    if not pids:
        raise BenchError("no process matched --cpu-pids/--cpu-pattern")
    return CpuMeter(pids)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark the command line describes; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("auth", "user", "key"):
        if not getattr(args, option):
            parser.error(f"--{option} is required (or set $ST_{option.upper()})")
    try:
        config = config_from_args(args)
        config.validate()
        meter = make_meter(args)
    except (ValueError, OSError, BenchError) as err:
        parser.error(str(err))
    progress = (lambda message: None) if args.quiet else None
    # SIGTERM (``timeout``, ``kill``) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    bench = Bench(config, meter=meter, progress=progress)
    try:
        report = bench.run()
    except BenchError as err:
        print(f"oiofs-bench: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        cleanup = bench.report.cleanup if bench.report else None
        done = (f"; cleanup deleted {cleanup.objects} objects and {cleanup.containers} "
                f"containers, {cleanup.errors} errors" if cleanup else "")
        print(f"oiofs-bench: interrupted{done}", file=sys.stderr)
        return 130
    table = format_table(report)
    if args.json:
        json.dump(to_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
        print(table, file=sys.stderr)
    else:
        print(table)
    if not report.ok:
        print(f"oiofs-bench: {report.errors} request errors, {report.failures} "
              "verification failures", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
