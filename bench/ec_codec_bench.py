"""CPU cost of erasure coding in the proxy, per MiB of object: encoding a segment, checking
the fragments' checksums (pyeclib ``get_metadata``), decoding from data fragments and from
parity fragments, with a policy's pyeclib driver (default: the all-in-one's ec42).

    python bench/ec_codec_bench.py [--k 4] [--m 2] [--segment 1048576] [--rounds 50]
"""

from __future__ import annotations

import argparse
import os
import time

from oiofs.common.storage_policy import ECPolicy


def per_mib(func, rounds: int, mib: float) -> float:
    """CPU milliseconds per MiB of ``func()`` over ``rounds`` calls."""
    start = time.process_time()
    for _ in range(rounds):
        func()
    return (time.process_time() - start) * 1000 / rounds / mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--segment", type=int, default=1024 * 1024)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    policy = ECPolicy.from_options(1, "bench", {
        "ec_num_data_fragments": str(args.k), "ec_num_parity_fragments": str(args.m),
        "ec_object_segment_size": str(args.segment)})
    driver, mib = policy.driver, args.segment / (1024 * 1024)
    segment = os.urandom(args.segment)
    fragments = driver.encode(segment)
    k = args.k
    print(f"{policy.ec_type} {k}+{args.m}, segment {args.segment} bytes, CPU ms per MiB:")
    print(f"  encode            {per_mib(lambda: driver.encode(segment), args.rounds, mib):.3f}")
    check = per_mib(lambda: [driver.get_metadata(f, formatted=True)
                             for f in fragments[:k]], args.rounds, mib)
    print(f"  checksum k frags  {check:.3f}")
    print(f"  decode (data)     "
          f"{per_mib(lambda: driver.decode(fragments[:k]), args.rounds, mib):.3f}")
    print(f"  decode (parity)   "
          f"{per_mib(lambda: driver.decode(fragments[-k:]), args.rounds, mib):.3f}")


if __name__ == "__main__":
    main()
