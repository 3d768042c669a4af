"""The directory in a running cluster: every server registers, a drained node gets no
client traffic, and the cluster keeps serving (and keeps the last scores) while the
directory is down."""

import os
import time
import uuid

import pytest

from oiofs.cli.allinone import processes
from oiofs.common.ring import Ring
from oiofs.directory.client import ConscienceClient
from tests.support.scores import score_reads
from tests.support.waiting import wait_for

DRAINED = 2  # the node drained in these tests
BATCH = 12


@pytest.fixture(scope="module")
def conscience(cluster):
    return ConscienceClient(endpoints=[cluster.layout.directory_url], timeout=5)


@pytest.fixture(scope="module")
def container(client):
    name = f"dir-{uuid.uuid4().hex[:8]}"
    assert client.request("PUT", f"/{name}").status in (201, 202)
    return name


def _proxy_lines(cluster, server: str, marker: str) -> int:
    """Access lines of the proxy's requests in ``server``'s log (e.g.
    ``object-server-2``) that mention ``marker``."""
    path = os.path.join(cluster.layout.log, f"{server}.log")
    with open(path, errors="replace") as log:
        return sum(1 for line in log if "proxy-server%20" in line and marker in line)


def _drained_hits(cluster, container: str) -> int:
    return sum(_proxy_lines(cluster, f"{t}-server-{DRAINED}", container)
               for t in ("object", "container"))


def _batch(client, container: str) -> None:
    """PUT then GET ``BATCH`` fresh objects; every one must succeed."""
    names = [f"o-{uuid.uuid4().hex[:10]}" for _ in range(BATCH)]
    for name in names:
        resp = client.request("PUT", f"/{container}/{name}", body=name.encode())
        assert resp.status == 201, resp
    for name in names:
        resp = client.request("GET", f"/{container}/{name}")
        assert resp.status == 200 and resp.body == name.encode(), resp


def _batch_misses_drained(cluster, client, container: str) -> bool:
    before = _drained_hits(cluster, container)
    _batch(client, container)
    return _drained_hits(cluster, container) == before


def test_every_server_registers_with_a_score(cluster, conscience):
    lay = cluster.layout
    expected = {("proxy", f"{lay.ip}:{lay.proxy_port}")} | {
        (t, f"{lay.ip}:{lay.port(n, t)}") for n in lay.node_numbers()
        for t in ("object", "container", "account")}

    def registered():
        services = conscience.list_services()
        return {(s["type"], s["addr"]): s for s in services
                if s["score"] > 0 and s["tags"]["tag.up"]}

    found = wait_for(lambda: (lambda r: r if expected <= set(r) else None)(registered()),
                     timeout=30, what="every server registered with a score")
    for node in lay.node_numbers():
        service = found[("object", f"{lay.ip}:{lay.port(node, 'object')}")]
        assert service["tags"]["tag.loc"] == lay.location(node)
        assert 0 < service["tags"]["stat.space"] <= 100
    # one registration per server: the proxy (however many workers) is one service
    assert len([s for s in conscience.list_services("proxy")]) == 1


def _score_reads(cluster) -> dict[int, int]:
    return score_reads(cluster.layout)


def _every_proxy_process_read_twice(cluster, before: dict[int, int]) -> bool:
    """True once every proxy process that refreshes the scores (each worker; the master
    only reads them once, at start) has read them twice since ``before`` (one read may
    have been under way when it was taken)."""
    now = _score_reads(cluster)
    readers = [pid for pid, count in now.items() if count > before.get(pid, 0)]
    return bool(readers) and all(now[pid] >= before.get(pid, 0) + 2 for pid in readers)


def test_idle_proxy_follows_a_lock_before_its_next_request(cluster, client, conscience,
                                                           container):
    """The proxy refreshes its scores in the background: locked while the proxy is idle,
    the node gets nothing from the very first requests that follow."""
    lay = cluster.layout
    drained = [(t, f"{lay.ip}:{lay.port(DRAINED, t)}") for t in ("object", "container")]
    _batch(client, container)
    assert _drained_hits(cluster, container) > 0  # it served before the drain
    try:
        for service_type, addr in drained:
            assert conscience.lock(service_type, addr, 0)["score"] == 0
        # no request now; two reads done after the lock (one may have been under way)
        reads = _score_reads(cluster)
        wait_for(lambda: _every_proxy_process_read_twice(cluster, reads), timeout=30,
                 interval=0.2, what="the idle proxy to read the scores again")
        assert _batch_misses_drained(cluster, client, container)
    finally:
        for service_type, addr in drained:
            conscience.unlock(service_type, addr)
    wait_for(lambda: not _batch_misses_drained(cluster, client, container), timeout=30,
             interval=0.2, what="the unlocked node to get requests again")


def _object_rows_put(cluster, node: int, container: str) -> int:
    """Object rows (``PUT /<dev>/<part>/<account>/<container>/<obj>``) the container
    server of ``node`` was sent for ``container``: the updates after object writes."""
    path = os.path.join(cluster.layout.log, f"container-server-{node}.log")
    with open(path, errors="replace") as log:
        return sum(1 for line in log if " PUT /" in line and f"/{container}/" in line)


def test_drained_container_server_gets_no_updates_from_new_puts(cluster, client,
                                                               conscience):
    """The proxy names a handoff instead of a drained container replica in the update
    headers it gives the object servers, as it does for its own requests."""
    lay = cluster.layout
    addr = f"{lay.ip}:{lay.port(DRAINED, 'container')}"
    ring = Ring(cluster.oiofs_dir, ring_name="container")
    name = next(n for n in (f"upd-{uuid.uuid4().hex[:8]}" for _ in range(100))
                if any(node["port"] == lay.port(DRAINED, "container")
                       for node in ring.get_nodes("AUTH_test", n)[1]))
    try:
        assert conscience.lock("container", addr, 0)["score"] == 0
        reads = _score_reads(cluster)
        wait_for(lambda: _every_proxy_process_read_twice(cluster, reads), timeout=30,
                 interval=0.2, what="the proxy to read the scores again")
        assert client.request("PUT", f"/{name}").status == 201  # on a handoff, not DRAINED
        names = sorted(f"o-{i:02d}" for i in range(BATCH))
        for obj in names:
            assert client.request("PUT", f"/{name}/{obj}", body=b"x").status == 201
        assert _object_rows_put(cluster, DRAINED, name) == 0
        assert sum(_object_rows_put(cluster, n, name) for n in lay.node_numbers()) >= \
            2 * BATCH  # a quorum of the container's replicas heard of every object
        listing = client.request("GET", f"/{name}")
        assert listing.status == 200 and listing.body.decode().split() == names
    finally:
        conscience.unlock("container", addr)


def test_drained_node_gets_no_traffic_even_with_the_directory_down(cluster, client,
                                                                   conscience, container):
    lay = cluster.layout
    drained = [(t, f"{lay.ip}:{lay.port(DRAINED, t)}") for t in ("object", "container")]
    _batch(client, container)
    assert _drained_hits(cluster, container) > 0  # it served before the drain
    locked_at = time.monotonic()
    try:
        for service_type, addr in drained:
            assert conscience.lock(service_type, addr, 0)["score"] == 0
        wait_for(lambda: _batch_misses_drained(cluster, client, container), timeout=30,
                 interval=0.2, what="the drained node to stop getting requests")
        print(f"drained node stopped receiving requests within "
              f"{time.monotonic() - locked_at:.1f}s of the lock")
        assert _batch_misses_drained(cluster, client, container)

        # the directory dies: the cluster serves, and the proxy keeps the last scores
        proxy_log = os.path.join(lay.log, "proxy-server.log")
        with open(proxy_log, errors="replace") as log:
            seen = sum(1 for line in log if "cannot read scores" in line)
        assert processes.kill_process("directory-server", lay.run, lay.root)

        def proxy_noticed():
            # the proxy's own green thread tries to refresh; requests still succeed
            assert client.request("HEAD", f"/{container}").status == 204
            with open(proxy_log, errors="replace") as log:
                return sum(1 for line in log if "cannot read scores" in line) > seen

        wait_for(proxy_noticed, timeout=30, interval=0.2,
                 what="the proxy to fail reading the directory")
        assert _batch_misses_drained(cluster, client, container)
    finally:
        cluster.aio.start_directory()
        # the lock was kept by the directory's store across its restart
        for service_type, addr in drained:
            assert conscience.show(service_type, addr)["locked"] is True
            conscience.unlock(service_type, addr)
    wait_for(lambda: not _batch_misses_drained(cluster, client, container), timeout=30,
             interval=0.2, what="the unlocked node to get requests again")
