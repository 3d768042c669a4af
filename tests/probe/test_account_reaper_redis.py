"""Probe: the account reaper on a cluster whose accounts are in Redis (``backend = redis``).

A reseller admin deletes an account holding a replicated and an erasure-coded container;
the account is queued in Redis's ``deleted-accounts:``; the reaper (killed once mid-way,
then run to completion) deletes every object of both policies and both containers, then
unqueues the account and lets its keys expire. Another account is left untouched.
"""

from __future__ import annotations

import pytest
import redis

from oiofs.cli.allinone.layout import EC_POLICY_NAME
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.ring import Ring
from tests.support.probe import (
    data_file_report,
    data_files,
    delete_account_as_admin,
    kill_reapers_midway,
    running_cluster,
    use_cluster_secret,
)
from tests.support.proxy_client import Client
from tests.support.waiting import wait_for

pytestmark = pytest.mark.probe

OBJECTS = 40
ACCOUNT = "AUTH_test2"


@pytest.fixture(scope="module")
def cluster():
    """A 3-node cluster (with the ec42 policy) whose accounts are in its own Redis."""
    with running_cluster(nodes=3, replicas=3, part_power=4, daemons=False,
                         account_backend="redis") as test_cluster:
        use_cluster_secret(test_cluster)
        yield test_cluster


def container_statuses(cluster, container: str) -> list[int]:
    """The status of a direct GET of ``container`` on each of its primaries."""
    part, nodes = Ring(cluster.oiofs_dir, ring_name="container").get_nodes(ACCOUNT, container)
    return [direct_request(node["ip"], node["port"], "GET",
                           backend_path(node["device"], part, ACCOUNT, container)).status
            for node in nodes]


def test_a_deleted_account_in_redis_is_reaped(cluster):
    cluster.rewrite_proxy_conf(lambda text: text.replace(
        "[app:proxy-server]\n", "[app:proxy-server]\nallow_account_management = true\n"))
    store = redis.Redis.from_url(cluster.layout.redis_url, decode_responses=True)
    owner = Client(cluster, user="test2:tester2")
    keeper = Client(cluster)  # AUTH_test, not deleted
    try:
        containers = {"reap-rep": "Policy-0", "reap-ec": EC_POLICY_NAME}
        for name, policy in containers.items():
            assert owner.request("PUT", f"/{name}",
                                 headers={"X-Storage-Policy": policy}).status == 201
            for i in range(OBJECTS):
                assert owner.request("PUT", f"/{name}/o{i:02d}", body=b"%d" % i
                                     ).status == 201
        assert keeper.request("PUT", "/kept").status == 201
        assert keeper.request("PUT", "/kept/obj", body=b"stays").status == 201
        kept_files = 3
        assert data_files(cluster) == kept_files + OBJECTS * 3 + OBJECTS * 6

        # The account learns of its containers from the container servers' updates, which
        # a loaded server may leave to the container updater: wait until it lists both.
        def listed():
            if store.zcard(f"containers:{ACCOUNT}") != 2:
                cluster.aio.run_once("container-updater")
            return store.zcard(f"containers:{ACCOUNT}") == 2

        wait_for(listed, 60, "the account to list its two containers")
        # The reaper finds objects through their container listings. A loaded object
        # server leaves a container update it could not deliver within 1 s to the object
        # updater (an async pending): deliver those now, as the running daemons would,
        # or the reaper cannot know of that object (seen once in CI: 3 copies left).
        assert set(cluster.aio.run_once("object-updater").values()) == {0}
        # The three account servers share the one Redis: whichever takes the DELETE last
        # finds the account deleted already, by this same DELETE, and answers 204 too (it
        # once answered 404, and under load the client got 404: seen in CI dry runs).
        assert delete_account_as_admin(cluster, ACCOUNT) == 204
        assert owner.request("HEAD").status == 410
        assert set(store.hkeys("deleted-accounts:")) == {ACCOUNT}
        assert store.zcard(f"containers:{ACCOUNT}") == 2
        assert store.ttl(f"account:{ACCOUNT}") == -1  # kept until reaped

        # a reaper killed mid-way (or done already), then passes until done
        kill_reapers_midway(cluster, 60)
        for _attempt in range(3):
            results = cluster.aio.run_once("account-reaper")
            assert set(results.values()) == {0}, results
            if not store.hkeys("deleted-accounts:"):
                break

        # A primary that missed a reaper's DELETE (a quorum is enough) gets the tombstone
        # from the object replicator or reconstructor, as after any write.
        if data_files(cluster) != kept_files:
            assert set(cluster.aio.run_once("object-replicator").values()) == {0}
            assert set(cluster.aio.run_once("object-reconstructor").values()) == {0}
        # every object of both policies is gone
        assert data_files(cluster) == kept_files, "\n".join(data_file_report(cluster))
        for name in containers:
            assert container_statuses(cluster, name) == [404, 404, 404], name
        assert store.hkeys("deleted-accounts:") == []
        assert store.zcard(f"containers:{ACCOUNT}") == 0
        assert 0 < store.ttl(f"account:{ACCOUNT}")  # now left to expire
        assert owner.request("HEAD").status == 410
        assert keeper.request("GET", "/kept/obj").body == b"stays"
        assert keeper.request("HEAD").status == 204
    finally:
        owner.close()
        keeper.close()
        store.close()
