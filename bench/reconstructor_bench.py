#!/usr/bin/env python3
"""The object reconstructor rebuilding one lost archive: pass time and memory.

Starts the reconstructor tests' set-up (four object servers on 127.0.0.1, two devices
each, an ``ec42`` ring; :mod:`tests.support.reconstruction`) with ``--segment`` byte
segments, stores the archives of one ``--mib`` MiB object but archive 2, then runs
``oiofs-daemon object-reconstructor <conf> --once`` as slot 1's node under
``/usr/bin/time -v`` and prints its pass summary, its maximum resident set, and whether
the rebuilt archive has the very bytes the writer made. Run it with several sizes to see
that memory does not grow with the object. Example::

    PYTHONPATH=$PWD python bench/reconstructor_bench.py --mib 64
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

from oiofs.common.hashing import set_hash_path_secret
from tests.support.reconstruction import ECSetup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="object size in MiB")
    parser.add_argument("--segment", type=int, default=1024 * 1024)
    args = parser.parse_args()
    set_hash_path_secret("test-prefix", "test-suffix")  # what the test servers use
    root = tempfile.mkdtemp(prefix="oiofs-recon-bench-")
    env = ECSetup(root, segment=args.segment)
    try:
        body = os.urandom(args.mib * 1024 * 1024)
        slots = env.slots("big")
        env.put("big", body, time.time() - 60, skip={2})
        expected = env.archives_of(body)[2]
        node = env.node_of[slots[1]]
        conf = os.path.join(root, "reconstructor.conf")
        with open(conf, "w") as handle:
            handle.write("[DEFAULT]\n" + "".join(
                f"{k} = {v}\n" for k, v in env.conf(node).items()) +
                "log_level = INFO\n\n[object-reconstructor]\n")
        out = subprocess.run(
            ["/usr/bin/time", "-v", os.path.join(ROOT, "bin", "oiofs-daemon"),
             "object-reconstructor", conf, "--once"],
            capture_output=True, text=True, check=False)
        text = out.stdout + out.stderr
        summary = re.search(r"pass done: .*", text)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        got = env.archive(slots[2], "big")
        print(f"object {args.mib} MiB, segment {args.segment} bytes, archive "
              f"{len(expected)} bytes")
        print(f"  {summary.group(0) if summary else 'no pass summary: ' + text[-2000:]}")
        print(f"  max RSS of the daemon: {int(rss.group(1)) / 1024:.1f} MiB" if rss
              else "  max RSS: /usr/bin/time gave none")
        print(f"  rebuilt archive identical: {got is not None and got[1] == expected}")
    finally:
        env.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
