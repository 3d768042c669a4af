"""container_quotas and account_quotas through the real proxy of the shared cluster:
limits hit exactly, copies and static large objects counted, only resellers set account
quotas."""

from __future__ import annotations

import json

import pytest

from tests.support.proxy_client import Client, unique


@pytest.fixture
def quota_container(client):
    name = unique("quota")
    assert client.request("PUT", f"/{name}", headers={
        "X-Container-Meta-Quota-Bytes": "10"}).status == 201
    return name


def test_quotas_are_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert "container_quotas" in info and "account_quotas" in info


def test_container_bytes_quota_exactly_at_the_limit(client, quota_container):
    c = quota_container
    assert client.request("PUT", f"/{c}/a", body=b"x" * 6).status == 201
    resp = client.request("PUT", f"/{c}/b", body=b"x" * 5)
    assert resp.status == 413, resp
    assert b"Upload exceeds quota" in resp.body
    assert client.request("HEAD", f"/{c}/b").status == 404      # nothing stored
    assert client.request("PUT", f"/{c}/b", body=b"x" * 4).status == 201  # 10 of 10
    assert client.request("PUT", f"/{c}/c", body=b"x").status == 413
    assert client.request("PUT", f"/{c}/c", body=b"").status == 201


def test_container_count_quota_and_bad_values(client):
    c = unique("quota")
    assert client.request("PUT", f"/{c}", headers={
        "X-Container-Meta-Quota-Count": "ten"}).status == 400
    assert client.request("PUT", f"/{c}", headers={
        "X-Container-Meta-Quota-Count": "2"}).status == 201
    assert client.request("PUT", f"/{c}/1", body=b"1").status == 201
    assert client.request("PUT", f"/{c}/2", body=b"2").status == 201
    assert client.request("PUT", f"/{c}/3", body=b"3").status == 413
    assert client.request("POST", f"/{c}", headers={
        "X-Container-Meta-Quota-Bytes": "1.5"}).status == 400
    assert client.request("POST", f"/{c}", headers={
        "X-Remove-Container-Meta-Quota-Count": "x"}).status == 204
    assert client.request("PUT", f"/{c}/3", body=b"3").status == 201


def test_copies_count_the_source_size(client, quota_container):
    c = quota_container
    assert client.request("PUT", f"/{c}/src", body=b"x" * 8).status == 201
    resp = client.request("PUT", f"/{c}/copy", body=b"",
                          headers={"X-Copy-From": f"{c}/src"})
    assert resp.status == 413, resp
    resp = client.request("COPY", f"/{c}/src", headers={"Destination": f"{c}/copy"})
    assert resp.status == 413, resp
    assert client.request("HEAD", f"/{c}/copy").status == 404
    other = unique("noquota")
    assert client.request("PUT", f"/{other}").status == 201
    assert client.request("COPY", f"/{c}/src",
                          headers={"Destination": f"{other}/copy"}).status == 201


def test_static_large_object_counts_its_total_size(client, quota_container):
    segs = unique("segs")
    assert client.request("PUT", f"/{segs}").status == 201
    for name in ("s1", "s2"):
        assert client.request("PUT", f"/{segs}/{name}", body=b"y" * 6).status == 201
    manifest = json.dumps([{"path": f"/{segs}/s1"}, {"path": f"/{segs}/s2"}]).encode()
    resp = client.request("PUT", f"/{quota_container}/big?multipart-manifest=put",
                          body=manifest, quote_path=False)
    assert resp.status == 413, resp
    assert client.request("HEAD", f"/{quota_container}/big").status == 404
    small = json.dumps([{"path": f"/{segs}/s1"}]).encode()
    resp = client.request("PUT", f"/{quota_container}/small?multipart-manifest=put",
                          body=small, quote_path=False)
    assert resp.status == 201, resp


def test_unauthorized_writes_get_401_not_413(cluster, client, quota_container):
    anonymous = Client(cluster, user=None)
    try:
        resp = anonymous.request("PUT", f"/{quota_container}/o", body=b"x" * 100)
        assert resp.status == 401
    finally:
        anonymous.close()


@pytest.fixture
def reseller_account(cluster):
    """A client of a fresh account, logged in as the reseller admin."""
    url, token = cluster.auth("admin:admin")
    account_url = url.rsplit("/", 1)[0] + "/" + unique("AUTH_q")
    c = Client(cluster, user=None, storage_url=account_url, token=token)
    yield c
    c.close()


def test_only_resellers_set_account_quotas(client, reseller_account):
    resp = client.request("POST", "", headers={"X-Account-Meta-Quota-Bytes": "10"})
    assert resp.status == 403
    resp = client.request("POST", "/", headers={"X-Account-Meta-Quota-Bytes": "10"})
    assert resp.status == 403  # /v1/AUTH_test/ is the account too
    assert "x-account-meta-quota-bytes" not in client.request("HEAD", "").headers
    assert reseller_account.request("POST", "", headers={
        "X-Account-Meta-Quota-Bytes": "many"}).status == 400
    assert reseller_account.request("POST", "", headers={
        "X-Account-Meta-Quota-Bytes": "10"}).status == 204


def test_account_quota_exactly_at_the_limit_and_per_policy(client, reseller_account):
    acct = reseller_account
    policy = json.loads(client.request("GET", "/info", absolute=True).body)[
        "swift"]["policies"][0]["name"]
    assert acct.request("POST", "", headers={"X-Account-Meta-Quota-Bytes": "10",
                                             f"X-Account-Quota-Bytes-Policy-{policy}": "8"}
                        ).status == 204
    head = acct.request("HEAD", "")
    assert head.headers["x-account-meta-quota-bytes"] == "10"
    assert head.headers[f"x-account-quota-bytes-policy-{policy}".lower()] == "8"
    assert not [h for h in head.headers if "sysmeta" in h]
    assert acct.request("PUT", "/c").status == 201
    assert acct.request("PUT", "/c/o", body=b"x" * 9).status == 413   # policy's 8
    assert acct.request("POST", "", headers={
        f"X-Remove-Account-Quota-Bytes-Policy-{policy}": "x"}).status == 204
    assert acct.request("PUT", "/c/o", body=b"x" * 11).status == 413  # overall 10
    assert acct.request("PUT", "/c/o", body=b"x" * 10).status == 201
    assert acct.request("HEAD", "/c/o").status == 200
