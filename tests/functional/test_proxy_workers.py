"""A second proxy with two workers on the same cluster: tokens from the first proxy work
on it, and a change made through one worker is seen by the other at once (shared cache
invalidation), not after the cache's TTL."""

from __future__ import annotations

import re

import pytest

from tests.support.proxy_client import Client, unique
from tests.support.servers import ServerProcess, free_port


@pytest.fixture(scope="module")
def second_proxy(cluster, tmp_path_factory):
    with open(cluster.layout.proxy_conf) as handle:
        text = handle.read()
    port = free_port()
    text = re.sub(r"(?m)^bind_port = .*$", f"bind_port = {port}", text)
    text = re.sub(r"(?m)^workers = .*$", "workers = 2", text)
    path = tmp_path_factory.mktemp("proxy2") / "proxy-server.conf"
    path.write_text(text)
    server = ServerProcess("proxy", str(path), port).start()
    yield port
    server.stop()


def fresh(cluster, port, token):
    """A client that opens a new connection per request (so both workers get some)."""
    client = Client(cluster, None, f"http://127.0.0.1:{port}/v1/AUTH_test", token)
    original = client.request

    def request(*args, **kwargs):
        kwargs.setdefault("headers", {})["Connection"] = "close"
        try:
            return original(*args, **kwargs)
        finally:
            client.close()

    client.request = request
    return client


def test_changes_are_seen_by_every_worker(cluster, second_proxy):
    owner_token = Client(cluster, "test:tester").token
    member_token = Client(cluster, "test:tester3").token
    owner = fresh(cluster, second_proxy, owner_token)
    member = fresh(cluster, second_proxy, member_token)
    name = unique("workers")
    assert owner.request("PUT", f"/{name}").status == 201
    assert owner.request("PUT", f"/{name}/o", body=b"shared").status == 201
    for _ in range(6):
        assert owner.request("POST", f"/{name}",
                             headers={"X-Container-Read": "test:tester3"}).status == 204
        for _ in range(3):
            assert member.request("GET", f"/{name}/o").status == 200
        assert owner.request("POST", f"/{name}", headers={"X-Container-Read": ""}).status \
            == 204
        for _ in range(3):
            assert member.request("GET", f"/{name}/o").status == 403
    assert owner.request("DELETE", f"/{name}/o").status == 204
    assert owner.request("DELETE", f"/{name}").status == 204
    for _ in range(4):
        assert owner.request("PUT", f"/{name}/o", body=b"x").status == 404
