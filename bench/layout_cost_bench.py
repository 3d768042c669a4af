"""CPU of one replica's durable 4 KiB write, with and without a directory per object.

What an on-disk layout without a hash directory per object (the object's files named by
hash in the suffix directory) would save, bounded by the system calls alone, no server:

    python bench/layout_cost_bench.py /work/layout-tree 2000 4    # a new directory

Each write: a temporary file in <dev>/tmp (write 4 KiB, one xattr, fsync), then either
(hashdir) mkdir <suffix>/<hash>, rename into it, fsync the hash dir and the suffix dir, or
(flat) rename to <suffix>/<hash>.<ts>.data, fsync the suffix dir. Suffix directories exist
already (a cluster in steady state). CPU = user + system of this process (getrusage).
"""
import os
import resource
import sys
import uuid


def run(root: str, mode: str, n: int) -> tuple[float, float]:
    """Write ``n`` objects under ``root`` the ``mode`` way; user and system us per write."""
    tmp = os.path.join(root, "tmp")
    os.makedirs(tmp, exist_ok=True)
    sufs = [os.path.join(root, "objects", "%03x" % i) for i in range(64)]
    for s in sufs:
        os.makedirs(s, exist_ok=True)
    body = os.urandom(4096)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n):
        h = uuid.uuid4().hex
        suffix = sufs[i % len(sufs)]
        t = os.path.join(tmp, uuid.uuid4().hex)
        fd = os.open(t, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
        os.write(fd, body)
        os.setxattr(fd, "user.oiofs.metadata", b"x" * 200)
        os.fsync(fd)
        if mode == "hashdir":
            d = os.path.join(suffix, h)
            os.mkdir(d)
            os.rename(t, os.path.join(d, "1700000000.00000.data"))
            for p in (d, suffix):
                dfd = os.open(p, os.O_RDONLY)
                os.fsync(dfd)
                os.close(dfd)
        else:
            os.rename(t, os.path.join(suffix, h + ".1700000000.00000.data"))
            dfd = os.open(suffix, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        os.close(fd)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    u = (r1.ru_utime - r0.ru_utime) / n * 1e6
    s = (r1.ru_stime - r0.ru_stime) / n * 1e6
    return u, s

if __name__ == "__main__":
    base, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for r in range(rounds):
        for mode in (("hashdir", "flat") if r % 2 == 0 else ("flat", "hashdir")):
            u, s = run(os.path.join(base, f"r{r}-{mode}"), mode, n)
            print(f"round {r} {mode:8} user {u:6.1f} us  sys {s:6.1f} us  "
                  f"total {u + s:6.1f} us per write", flush=True)
