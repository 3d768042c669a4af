"""Probe: a reseller admin deletes an account holding 2 containers x 500 objects; the
account answers 410, the account reaper (killed once mid-way) removes every object and
container, and after the replicators reclaim the tombstones and deleted databases
nothing of the account remains on any device. Another account is left untouched."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from oiofs.common.hashing import hash_path
from tests.support.probe import (
    data_file_report,
    data_files,
    delete_account_as_admin,
    kill_reapers_midway,
)
from tests.support.proxy_client import Client

pytestmark = pytest.mark.probe

CONTAINERS = ("reap-a", "reap-b")
OBJECTS = 500


def run(cluster, daemon: str) -> None:
    results = cluster.aio.run_once(daemon)
    assert set(results.values()) == {0}, (daemon, results)


def set_daemon_option(cluster, daemon: str, option: str, value: str) -> None:
    """Add ``option = value`` to the ``[daemon]`` section of every node's server config."""
    server_type = daemon.split("-", 1)[0]
    for node in cluster.layout.node_numbers():
        path = cluster.layout.server_conf(node, server_type)
        with open(path) as handle:
            text = handle.read()
        text = re.sub(rf"^\[{daemon}\]\n", f"[{daemon}]\n{option} = {value}\n", text,
                      flags=re.M)
        with open(path, "w") as handle:
            handle.write(text)


def files_of(cluster, names: set[str]) -> list[str]:
    """Every file on every device whose path has one of ``names`` (hash dirs, db files)."""
    found = []
    for node in cluster.nodes:
        for root, dirs, files in os.walk(node["devices"]):
            for entry in dirs + files:
                if entry.split(".")[0] in names:
                    found.append(os.path.join(root, entry))
    return found


def fill(cluster, container: str) -> None:
    client = Client(cluster, user="test2:tester2")
    try:
        for i in range(OBJECTS):
            assert client.request("PUT", f"/{container}/obj-{i:03d}", body=b"%d" % i
                                  ).status == 201
    finally:
        client.close()


def test_a_deleted_account_is_reaped_and_nothing_of_it_remains(cluster):
    cluster.rewrite_proxy_conf(lambda text: text.replace(
        "[app:proxy-server]\n", "[app:proxy-server]\nallow_account_management = true\n"))
    owner = Client(cluster, user="test2:tester2")
    keeper = Client(cluster)  # AUTH_test, not deleted
    try:
        for name in CONTAINERS:
            assert owner.request("PUT", f"/{name}").status == 201
        assert keeper.request("PUT", "/kept").status == 201
        assert keeper.request("PUT", "/kept/obj", body=b"stays").status == 201
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda name: fill(cluster, name), CONTAINERS))
        for name in CONTAINERS:
            assert owner.request("HEAD", f"/{name}").headers[
                "x-container-object-count"] == str(OBJECTS)

        # The reaper finds objects through container listings: a container update a
        # loaded object server left to the updater (an async pending) would hide its
        # object from them (seen in CI: 2 files left). Deliver those first, as the
        # running daemons would.
        run(cluster, "object-updater")

        # only a reseller admin may delete an account
        assert owner.request("DELETE").status == 403
        assert delete_account_as_admin(cluster, "AUTH_test2") == 204
        assert owner.request("HEAD").status == 410
        assert owner.request("GET").status == 410
        assert owner.request("PUT", "/new").status == 404

        # a reaper killed mid-way, then passes until done
        kill_reapers_midway(cluster, 300)
        # Passes until done: usually the first finishes; one full-suite run under load
        # still had 7 files after three (a pass leaves what it could not delete to the
        # next), so up to six.
        for _attempt in range(6):
            run(cluster, "account-reaper")
            if data_files(cluster) == 3:
                break
        # A primary that missed a reaper's DELETE (a quorum is enough; seen under load: one
        # replica left) gets the tombstone from the object replicator, as after any write.
        if data_files(cluster) != 3:
            run(cluster, "object-replicator")
        assert data_files(cluster) == 3, "\n".join(data_file_report(cluster))  # kept only

        # the replicators reclaim tombstones and deleted databases past reclaim_age
        for daemon in ("object-replicator", "container-replicator", "account-replicator"):
            set_daemon_option(cluster, daemon, "reclaim_age", "1")
        time.sleep(1.5)  # past reclaim_age
        for daemon in ("container-updater", "object-replicator", "container-replicator",
                       "account-replicator"):
            run(cluster, daemon)
        names = {hash_path("AUTH_test2")} | {hash_path("AUTH_test2", c) for c in CONTAINERS}
        names |= {hash_path("AUTH_test2", c, f"obj-{i:03d}") for c in CONTAINERS
                  for i in range(OBJECTS)}
        assert files_of(cluster, names) == []
        assert keeper.request("GET", "/kept/obj").body == b"stays"
    finally:
        owner.close()
        keeper.close()
