"""An all-in-one cluster with ``--account-backend redis``: its own redis-server, shared by
every account server, fed by the container servers and updaters, stopped with it."""

from __future__ import annotations

import json
import os

import pytest
import redis

from oiofs.cli.allinone import processes
from tests.functional.test_proxy_support import Client, unique
from tests.support.cluster import TestCluster


@pytest.fixture(scope="module")
def redis_cluster():
    test_cluster = TestCluster(nodes=3, replicas=3, daemons=False,
                               account_backend="redis").start()
    try:
        yield test_cluster
    finally:
        test_cluster.destroy()


@pytest.fixture(scope="module")
def client(redis_cluster):
    c = Client(redis_cluster)
    yield c
    c.close()


def test_accounts_live_in_the_clusters_redis(redis_cluster, client):
    lay = redis_cluster.layout
    store = redis.Redis.from_url(lay.redis_url, decode_responses=True)
    name = unique("rds")
    assert client.request("PUT", f"/{name}").status == 201
    assert client.request("PUT", f"/{name}/o1", body=b"x" * 10).status == 201
    assert client.request("PUT", f"/{name}/o2", body=b"y" * 5).status == 201
    assert client.request("POST", "", headers={"X-Account-Meta-Color": "blue"}).status == 204
    # object counts reach the account through the container updater
    assert set(redis_cluster.aio.run_once("container-updater").values()) == {0}
    head = client.request("HEAD", "")
    assert head.status == 204 and head.headers["x-account-meta-color"] == "blue"
    assert int(head.headers["x-account-object-count"]) >= 2
    rows = json.loads(client.request("GET", f"?format=json&prefix={name}",
                                     quote_path=False).body)
    assert [(r["name"], r["count"], r["bytes"]) for r in rows] == [(name, 2, 15)]
    record = store.hgetall(f"container:AUTH_test/{name}")
    assert (record["objects"], record["bytes"], record["policy"]) == ("2", "15", "0")
    assert store.hget("metadata:AUTH_test", "X-Account-Meta-Color") == "blue"
    # no account database on any node
    for node in redis_cluster.nodes:
        assert not os.path.exists(os.path.join(node["devices"], node["device"], "accounts"))
    # the append-only file has it (appendfsync always)
    aof = [os.path.join(d, f) for d, _, files in os.walk(lay.redis_dir) for f in files]
    assert any(name.encode() in open(path, "rb").read() for path in aof)
    store.close()

    assert client.request("DELETE", f"/{name}/o1").status == 204
    assert client.request("DELETE", f"/{name}/o2").status == 204
    redis_cluster.aio.run_once("container-updater")
    assert client.request("DELETE", f"/{name}").status == 204
    listing = client.request("GET", f"?format=json&prefix={name}", quote_path=False)
    assert json.loads(listing.body or b"[]") == []


def test_replicator_and_auditor_idle(redis_cluster):
    assert set(redis_cluster.aio.run_once("account-replicator", nodes=[1]).values()) == {0}
    assert set(redis_cluster.aio.run_once("account-auditor", nodes=[1]).values()) == {0}
    log = os.path.join(redis_cluster.layout.log, "account-replicator-1.once.log")
    assert "accounts are kept in Redis" in open(log, errors="replace").read()


def test_status_lists_redis(redis_cluster):
    status = redis_cluster.aio.status()["redis-server"]
    assert status["pid"] and status["listening"]
    assert status["port"] == redis_cluster.layout.redis_port
    assert processes.read_pid(redis_cluster.layout.run, "redis-server",
                              redis_cluster.layout.root) == status["pid"]
