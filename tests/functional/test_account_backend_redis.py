"""An all-in-one cluster with ``--account-backend redis``: its own redis-server, shared by
every account server, fed by the container servers and updaters, stopped with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from oiofs.cli.allinone import processes
from tests.support.cluster import TestCluster
from tests.support.proxy_client import Client, unique


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


def test_rebuilder_restores_lost_records(redis_cluster, client):
    lay = redis_cluster.layout
    names = [unique("rb") for _ in range(3)]
    for i, name in enumerate(names):
        assert client.request("PUT", f"/{name}").status == 201
        for j in range(i + 1):
            assert client.request("PUT", f"/{name}/o{j}", body=b"z" * 7).status == 201
    gone = unique("rbgone")
    assert client.request("PUT", f"/{gone}").status == 201
    assert client.request("DELETE", f"/{gone}").status == 204
    redis_cluster.aio.run_once("container-updater")

    def listing():
        rows = json.loads(client.request("GET", "?format=json&prefix=rb",
                                         quote_path=False).body or b"[]")
        return [(r["name"], r["count"], r["bytes"]) for r in rows]

    before = listing()
    assert [row[0] for row in before] == sorted(names)
    assert [row[1] for row in before] == [names.index(n) + 1 for n in sorted(names)]
    store = redis.Redis.from_url(lay.redis_url)
    store.flushall()  # Redis lost everything
    assert listing() == []
    devices = [arg for node in redis_cluster.nodes for arg in ("--devices", node["devices"])]
    result = subprocess.run(
        [sys.executable, "-m", "oiofs.account.rebuilder", lay.server_conf(1, "account"),
         "--workers", "4", *devices], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "done:" in result.stdout and "0 errors" in result.stdout
    assert listing() == before
    # a real report newer than the rebuild's replay still wins
    assert client.request("PUT", f"/{names[0]}/extra", body=b"1").status == 201
    redis_cluster.aio.run_once("container-updater")
    counts = {name: count for name, count, _ in listing()}
    assert counts[names[0]] == 2  # one object before the rebuild, one after
    store.close()


def test_rebuilder_refuses_sqlite_conf(tmp_path):
    conf = tmp_path / "account-server.conf"
    conf.write_text("[DEFAULT]\ndevices = /nowhere\n\n[app:account-server]\n"
                    "use = egg:oiofs#account\n")
    result = subprocess.run([sys.executable, "-m", "oiofs.account.rebuilder", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "backend = redis" in result.stderr
