"""Rate limits through a proxy with two workers: the limit is shared by both, 498 past
the sleep allowed, 497 for a blacklisted account (docs/middleware.md)."""

from __future__ import annotations

import json

import pytest

from tests.functional.test_proxy_workers import fresh
from tests.support.proxy_client import Client, unique
from tests.support.servers import ServerProcess, free_port

# One object write per 100 s per container: within the test, a container takes one write,
# and every other would have to wait far longer than max_sleep_time_seconds.
OPTIONS = """
container_ratelimit_1 = 0.01
max_sleep_time_seconds = 1
rate_buffer_seconds = 0
account_blacklist = AUTH_test2
"""


@pytest.fixture(scope="module")
def limited_proxy(cluster, tmp_path_factory):
    with open(cluster.layout.proxy_conf) as handle:
        text = handle.read()
    port = free_port()
    text = text.replace("bind_port = ", f"bind_port = {port}\n# was: ", 1)
    text = text.replace("workers = ", "workers = 2\n# was: ", 1)
    text = text.replace("use = egg:oiofs#ratelimit\n", "use = egg:oiofs#ratelimit\n" + OPTIONS)
    path = tmp_path_factory.mktemp("proxy-rl") / "proxy-server.conf"
    path.write_text(text)
    server = ServerProcess("proxy", str(path), port).start()
    yield port
    server.stop()


def test_ratelimit_is_in_info(cluster, limited_proxy):
    client = Client(cluster, None, f"http://127.0.0.1:{limited_proxy}/v1/AUTH_test")
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["ratelimit"]["container_ratelimits"] == [[1, 0.01]]
    assert info["ratelimit"]["max_sleep_time_seconds"] == 1.0
    default = json.loads(Client(cluster).request("GET", "/info", absolute=True).body)
    assert default["ratelimit"]["container_ratelimits"] == []


def test_two_workers_share_one_container_limit(cluster, client, limited_proxy):
    name = unique("rl")
    # the container has an object before the limited proxy first looks at it
    assert client.request("PUT", f"/{name}").status == 201
    assert client.request("PUT", f"/{name}/first", body=b"x").status == 201
    limited = fresh(cluster, limited_proxy, client.token)  # a new connection each time
    statuses = [limited.request("PUT", f"/{name}/o{i}", body=b"x").status
                for i in range(12)]
    # with a count per worker, each worker would have let one write through
    assert statuses.count(201) == 1, statuses
    assert set(statuses) == {201, 498}
    refused = limited.request("PUT", f"/{name}/again", body=b"x")
    assert (refused.status, refused.body) == (498, b"Slow down")
    # reads and other containers are not limited by this container's writes
    assert limited.request("GET", f"/{name}/first").status == 200
    other = unique("rl")
    assert client.request("PUT", f"/{other}").status == 201
    assert client.request("PUT", f"/{other}/first", body=b"x").status == 201
    assert limited.request("PUT", f"/{other}/o", body=b"x").status == 201


def test_blacklisted_account_is_refused(cluster, limited_proxy):
    _url, token = cluster.auth("test2:tester2")
    other = fresh(cluster, limited_proxy, token)
    other.storage_url = f"http://127.0.0.1:{limited_proxy}/v1/AUTH_test2"
    other.base_path = "/v1/AUTH_test2"
    resp = other.request("GET", "")
    assert (resp.status, resp.body) == (497, b"Your account has been blacklisted")
