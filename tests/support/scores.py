"""What the proxy knows of the conscience's scores, seen from outside its processes.

Each proxy worker reads the scores from the directory every
``conscience_refresh_interval`` seconds and names itself in the request's User-Agent
(``oiofs-proxy-scores/<pid>``); the directory's access log says when each read began.
"""

from __future__ import annotations

import os
import time

from oiofs.cli.allinone import processes
from oiofs.cli.allinone.layout import SERVER_TYPES
from oiofs.directory.client import ConscienceClient
from tests.support.waiting import wait_for

_MARK = "oiofs-proxy-scores/"


def proxy_pids(layout) -> set[int]:
    """The pids of the proxy's process group: its master and its workers."""
    leader = processes.read_pid(layout.run, "proxy-server", layout.root)
    assert leader, "the proxy runs"
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == leader:
                    pids.add(int(entry))
            except OSError:
                continue  # ended meanwhile
    return pids


def score_reads(layout, since: float = 0.0) -> dict[int, int]:
    """How many reads of the scores each process of the proxy began after ``since``
    (``time.time()``), by pid (the daemons' internal proxies read them too: not counted)."""
    reads = dict.fromkeys(proxy_pids(layout), 0)
    path = os.path.join(layout.log, "directory-server.log")
    with open(path, errors="replace") as log:
        for line in log:
            if "/v1/conscience/list" not in line or _MARK not in line:
                continue
            pid = int(line.split(_MARK)[1].split()[0])
            began = float(line.split()[-3])  # ... start_time end_time policy
            if pid in reads and began > since:
                reads[pid] += 1
    return reads


def wait_proxy_sees_node(layout, node: int, started_at: float, timeout: float = 60) -> None:
    """Return once the servers of ``node`` (started at ``started_at``) registered again
    and every proxy worker has read the scores since: until then the proxy may still take
    the node for down (score 0) and write around it, to handoffs."""
    if not processes.read_pid(layout.run, "directory-server", layout.root):
        return  # no directory: no scores
    conscience = ConscienceClient(endpoints=[layout.directory_url], timeout=5)
    addrs = {f"{layout.ip}:{layout.port(node, t)}" for t in SERVER_TYPES}

    def registered() -> bool:
        seen = {s["addr"] for s in conscience.list_services()
                if s["addr"] in addrs and s["score"] > 0
                and float(s.get("last_seen") or 0) >= started_at}
        return seen == addrs

    wait_for(registered, timeout=timeout, interval=0.1,
             what=f"node {node}'s servers to register again")
    mark = time.time()
    leader = processes.read_pid(layout.run, "proxy-server", layout.root)
    if not leader:
        return  # no proxy: it reads the scores when it starts

    def every_worker_read() -> bool:
        reads = score_reads(layout, mark)
        workers = [pid for pid in reads if pid != leader] or list(reads)
        return all(reads[pid] > 0 for pid in workers)

    wait_for(every_worker_read, timeout=timeout, interval=0.1,
             what="every proxy worker to read the scores again")
