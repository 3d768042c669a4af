"""The account service (``oiofs-server account-service``) as a real subprocess over a real
redis-server, driven by ``AccountClient`` and by raw HTTP."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from oiofs.account.client import AccountClient, AccountServiceError, AccountServiceUnreachable
from tests.support.redis_server import RedisServer
from tests.support.servers import (
    ServerProcess,
    free_port,
    write_cluster_conf,
    write_server_conf,
)

SERVICE = "call:oiofs.account.service:app_factory"  # egg:oiofs#account-service once installed


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(str(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server
    finally:
        server.stop()


def start_service(base, redis_url: str) -> tuple[ServerProcess, int]:
    port = free_port()
    oiofs_dir = str(base / "etc")
    write_cluster_conf(oiofs_dir)  # every oiofs-server reads the cluster config
    conf = write_server_conf(str(base / f"service-{port}.conf"), SERVICE, {
        "bind_port": port, "workers": 1, "log_level": "INFO", "redis_url": redis_url,
        "oiofs_dir": oiofs_dir,
        "redis_connect_timeout": "0.5"})
    return ServerProcess("account-service", conf, port).start(), port


@pytest.fixture(scope="module")
def service(tmp_path_factory, redis_server):
    server, port = start_service(tmp_path_factory.mktemp("service"), redis_server.url)
    try:
        yield port
    finally:
        server.kill()


@pytest.fixture
def client(service):
    return AccountClient({"account_service_url": f"http://127.0.0.1:{service}"})


def raw(port: int, method: str, path: str, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_client_round_trip(client):
    name = f"acct-{time.time_ns()}"
    assert client.account_create(name) is True
    assert client.account_create(name) is False
    assert name in client.account_list()
    now = time.time()
    for i, container in enumerate(["alpha", "beta", "Gamma_x"]):
        result = client.container_update(name, container, {"mtime": now + i, "objects": i + 1,
                                                          "bytes": 10 * (i + 1)})
        assert result == {"name": container, "result": "updated"}
    with pytest.raises(AccountServiceError) as err:  # older than what is stored
        client.container_update(name, "alpha", {"mtime": now - 10, "objects": 9})
    assert err.value.http_status == 409
    show = client.account_show(name)
    assert (show["objects"], show["bytes"], show["containers"]) == (6, 60, 3)
    listing = client.container_list(name, limit=2, prefix="", marker="Gamma_x")
    assert [row[0] for row in listing["listing"]] == ["alpha", "beta"]
    assert [row[0] for row in client.container_list(name, s3_buckets_only=True)["listing"]] \
        == ["alpha", "beta"]
    client.account_update(name, {"owner": "me", "tmp": "x"}, None)
    client.account_update(name, None, ["tmp"])
    assert client.account_show(name)["metadata"] == {"owner": "me"}
    client.container_reset(name, "beta", now + 5)
    assert client.account_show(name)["objects"] == 4
    client.container_update(name, "alpha", {"mtime": now, "dtime": now + 20})
    assert client.account_show(name)["containers"] == 2
    with pytest.raises(AccountServiceError) as err:
        client.account_delete(name)
    assert err.value.http_status == 409
    client.account_refresh(name)
    client.account_flush(name)
    assert client.account_show(name)["containers"] == 0
    client.account_delete(name)
    with pytest.raises(AccountServiceError) as err:
        client.account_show(name)
    assert err.value.http_status == 404


def test_status_and_bad_requests(service):
    status, body = raw(service, "GET", "/status")
    assert status == 200 and "account_count" in json.loads(body)
    assert raw(service, "POST", "/v1.0/account/create")[0] == 400  # no id
    assert raw(service, "GET", "/v1.0/account/show?id=nobody-here")[0] == 404
    raw(service, "POST", "/v1.0/account/create?id=badreq")
    for body in (b"{not json", b"[1]", b'{"name": ""}', b'{"name": "c", "objects": -1}',
                 b'{"name": "c", "mtime": "soon"}', b'{"name": "a/b"}'):
        status, text = raw(service, "POST", "/v1.0/account/container/update?id=badreq", body)
        assert status == 400, body
        assert json.loads(text)["status"] == 400
    assert raw(service, "POST", "/v1.0/account/container/reset?id=badreq",
               b'{"name": "none", "mtime": 5}')[0] == 404
    assert raw(service, "GET", "/v1.0/account/nowhere")[0] == 404
    assert raw(service, "DELETE", "/v1.0/account/list")[0] == 405


def test_redis_down_is_503_and_client_errors(tmp_path):
    server, port = start_service(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    try:
        status, body = raw(port, "GET", "/v1.0/account/show?id=x")
        assert status == 503 and b"Redis unreachable" in body
    finally:
        server.kill()
    client = AccountClient({"account_service_retries": "1"},
                           endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(AccountServiceUnreachable):
        client.account_show("x")
