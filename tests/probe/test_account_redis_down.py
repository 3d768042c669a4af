"""Probe: the accounts' Redis dies under load (SIGKILL) and comes back.

While it is down, account requests answer 503, objects are still written (container
servers keep their statistics), and the container updater's reports fail without being
marked as delivered. Once Redis is back (with every acknowledged update in its
append-only file), the next updater pass delivers them: nothing is lost.
"""

from __future__ import annotations

import http.client
import threading

import pytest

from oiofs.cli.allinone import processes
from tests.support.probe import ProbeClient, running_cluster

pytestmark = pytest.mark.probe


@pytest.fixture(scope="module")
def cluster():
    """A 3-node cluster whose accounts are in its own Redis (no background daemons)."""
    with running_cluster(nodes=3, replicas=3, part_power=4, daemons=False,
                         account_backend="redis") as test_cluster:
        yield test_cluster


def account_counts(client: ProbeClient) -> tuple[int, int, int]:
    """The account's container, object and byte counts (its HEAD must answer 204)."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request("HEAD", client.base, headers={"X-Auth-Token": client.token})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 204, resp.status
        return (int(resp.getheader("X-Account-Container-Count")),
                int(resp.getheader("X-Account-Object-Count")),
                int(resp.getheader("X-Account-Bytes-Used")))
    finally:
        conn.close()


def test_redis_killed_under_load_loses_nothing(cluster):
    client = ProbeClient(cluster)
    lay = cluster.layout
    client.put_container("busy")
    for i in range(3):
        assert client.put("busy", f"before-{i}", b"x" * 10) == 201
    assert set(cluster.aio.run_once("container-updater").values()) == {0}
    assert account_counts(client) == (1, 3, 30)

    stop = threading.Event()
    written: list[str] = []
    failures: list[int] = []

    def load():
        n = 0
        while not stop.is_set():
            name = f"load-{n}"
            status = client.put("busy", name, b"y" * 5)
            (written.append(name) if status == 201 else failures.append(status))
            n += 1

    loader = threading.Thread(target=load)
    loader.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        assert processes.kill_process("redis-server", lay.run, lay.root)
        assert client.request("HEAD", "")[0] == 503
        assert client.request("GET", "")[0] == 503
        # reports fail while Redis is down (and are not recorded as delivered)
        cluster.aio.run_once("container-updater")
        assert client.request("HEAD", "")[0] == 503
        count_while_down = len(written)
        while len(written) < count_while_down + 5:
            stop.wait(0.05)
        cluster.aio.start_redis()
        while len(written) < count_while_down + 10:
            stop.wait(0.05)
    finally:
        stop.set()
        loader.join()
    assert not failures, failures  # object writes never needed the accounts
    # the records acknowledged before the crash are still there (appendfsync always)
    status, body = client.request("GET", "/busy")  # the container servers' listing
    assert status == 200
    objects = body.decode().split()
    assert len(objects) == 3 + len(written)
    assert set(cluster.aio.run_once("container-updater").values()) == {0}
    assert account_counts(client) == (1, 3 + len(written), 30 + 5 * len(written))
