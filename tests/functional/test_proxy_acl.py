"""tempauth and ACLs through the real proxy: who may do what, 401 versus 403, bad input."""

from __future__ import annotations

import os
import time

import pytest

from oiofs.proxy.middleware.tokens import TokenSigner
from tests.functional.test_proxy_support import Client, raw_request, status_of, unique


@pytest.fixture(scope="module")
def owner(cluster):
    c = Client(cluster, "test:tester")
    yield c
    c.close()


@pytest.fixture(scope="module")
def clients(cluster, owner):
    """Clients aimed at the owner's account: a member, another account, anonymous."""
    member = Client(cluster, "test:tester3")
    other = Client(cluster, "test2:tester2")
    other_on_test = Client(cluster, None, owner.storage_url, other.token)
    anonymous = Client(cluster, None, owner.storage_url)
    reseller = Client(cluster, None, owner.storage_url, Client(cluster, "admin:admin").token)
    yield {"member": member, "other": other_on_test, "anonymous": anonymous,
           "reseller": reseller}
    for c in (member, other, other_on_test, anonymous, reseller):
        c.close()


def test_tokens_and_storage_urls(cluster, owner, clients):
    assert owner.storage_url.endswith("/v1/AUTH_test")
    assert clients["member"].storage_url.endswith("/v1/AUTH_test")
    bad = Client(cluster, None, owner.storage_url, "AUTH_tk" + "0" * 60)
    assert bad.request("HEAD").status == 401
    assert Client(cluster, None, owner.storage_url, "nonsense").request("HEAD").status == 401


def test_expired_token_is_refused(cluster, owner):
    with open(os.path.join(cluster.oiofs_dir, "token_secret")) as handle:
        signer = TokenSigner(handle.read().strip())
    expired = signer.make("test:tester", "testing", int(time.time()) - 5)
    live = signer.make("test:tester", "testing", int(time.time()) + 60)
    assert Client(cluster, None, owner.storage_url, expired).request("HEAD").status == 401
    assert Client(cluster, None, owner.storage_url, live).request("HEAD").status == 204


def test_account_level_rights(owner, clients):
    assert owner.request("HEAD").status == 204
    assert clients["member"].request("HEAD").status == 403
    assert clients["member"].request("POST", headers={"X-Account-Meta-X": "y"}).status == 403
    assert clients["other"].request("GET").status == 403
    assert clients["anonymous"].request("GET").status == 401
    assert clients["reseller"].request("HEAD").status == 204
    assert owner.request("POST", headers={"X-Account-Meta-Owner": "me"}).status == 204
    assert owner.request("HEAD").headers["x-account-meta-owner"] == "me"
    assert owner.request("PUT").status == 405  # account management is off
    assert owner.request("DELETE").status == 405


def test_acl_matrix(owner, clients):
    name = unique("acl")
    obj = f"/{name}/o"
    assert owner.request("PUT", f"/{name}").status == 201
    assert owner.request("PUT", obj, body=b"secret").status == 201
    member, other, anonymous = clients["member"], clients["other"], clients["anonymous"]

    def statuses():
        return (member.request("GET", obj).status, member.request("GET", f"/{name}").status,
                member.request("PUT", f"/{name}/m", body=b"m").status,
                other.request("GET", obj).status, anonymous.request("GET", obj).status,
                anonymous.request("GET", f"/{name}").status)

    assert statuses() == (403, 403, 403, 403, 401, 401)
    # Only the owner sets ACLs, and a member cannot change the container at all.
    assert member.request("POST", f"/{name}",
                          headers={"X-Container-Read": "test:tester3"}).status == 403
    assert member.request("DELETE", obj).status == 403

    def set_acl(read="", write=""):
        resp = owner.request("POST", f"/{name}", headers={"X-Container-Read": read,
                                                          "X-Container-Write": write})
        assert resp.status == 204

    set_acl(read="test:tester3")
    assert statuses() == (200, 200, 403, 403, 401, 401)
    set_acl(read="test:tester3", write="test:tester3")
    assert statuses() == (200, 200, 201, 403, 401, 401)
    set_acl(read="test2")
    assert statuses()[3] == 200
    set_acl(read=".r:*")
    assert statuses() == (200, 403, 403, 200, 200, 401)
    set_acl(read=".r:*,.rlistings")
    assert statuses()[4:] == (200, 200)
    set_acl()
    assert statuses() == (403, 403, 403, 403, 401, 401)
    # The owner sees ACLs, a reader does not.
    set_acl(read="test:tester3")
    assert owner.request("HEAD", f"/{name}").headers["x-container-read"] == "test:tester3"
    head = member.request("HEAD", f"/{name}")
    assert head.status == 204 and "x-container-read" not in head.headers
    assert clients["reseller"].request("DELETE", obj).status == 204


def test_invalid_acls_refused(owner):
    name = unique("badacl")
    assert owner.request("PUT", f"/{name}", headers={"X-Container-Write": ".r:*"}).status \
        == 400
    assert owner.request("PUT", f"/{name}", headers={"X-Container-Read": ".bogus"}).status \
        == 400
    assert owner.request("HEAD", f"/{name}").status == 404


def test_other_accounts_token_cannot_reach_its_own_with_foreign_url(cluster, clients):
    # test2's token used on AUTH_test: 403; on its own account it works.
    assert clients["other"].request("HEAD").status == 403
    own = Client(cluster, "test2:tester2")
    assert own.request("HEAD").status == 204


def test_bad_requests_store_nothing(cluster, owner):
    name = unique("bad")
    assert owner.request("PUT", f"/{name}").status == 201
    long_meta = {"X-Object-Meta-Big": "v" * 300}
    assert owner.request("PUT", f"/{name}/o", body=b"x", headers=long_meta).status == 400
    many = {f"X-Object-Meta-K{i}": "v" * 200 for i in range(25)}
    assert owner.request("PUT", f"/{name}/o", body=b"x", headers=many).status == 400
    assert owner.request("PUT", f"/{name}/" + "n" * 1025, body=b"x").status == 400
    assert owner.request("PUT", "/" + "c" * 257).status == 400
    assert owner.request("POST", f"/{name}",
                         headers={"X-Container-Meta-Big": "v" * 300}).status == 400
    assert owner.request("GET", f"/{name}/o").status == 404
    port = cluster.layout.proxy_port
    base = owner.base_path
    token = owner.token
    tricks = {
        f"{base}/../AUTH_test2/c": 400,
        f"{base}/{name}/..": 400,
        f"{base}/%ff%fe/o": 412,
        "/v2/AUTH_test/c": 400,
    }
    for path, expected in tricks.items():
        raw = raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                                f"Connection: close\r\n\r\n".encode())
        assert status_of(raw) == expected, (path, raw[:200])
    # A body shorter than its Content-Length: the client gave up; nothing is stored.
    head = (f"PUT {base}/{name}/short HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
            f"Content-Length: 100\r\n\r\n").encode()
    raw = raw_request(port, head + b"only ten b")
    assert status_of(raw) in (0, 499), raw[:200]  # the client is gone; no one may read it
    head = (f"PUT {base}/{name}/short2 HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
            f"Content-Length: 200000\r\n\r\n").encode()
    raw_request(port, head + os.urandom(100000))  # the streaming path, cut short
    assert owner.request("GET", f"/{name}/short").status == 404
    assert owner.request("GET", f"/{name}/short2").status == 404
    # A body longer than its Content-Length: exactly Content-Length bytes are the object,
    # the rest is read as the next request and refused.
    head = (f"PUT {base}/{name}/long HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
            f"Content-Length: 5\r\n\r\n").encode()
    raw = raw_request(port, head + b"12345EXTRA-BYTES\r\n\r\n")
    assert status_of(raw) == 201 and b" 400 " in raw, raw
    assert owner.request("GET", f"/{name}/long").body == b"12345"
    listing = owner.request("GET", f"/{name}").body.decode().split()
    assert listing == ["long"]
    # Missing Content-Length and no chunking: 411; a bad one: 400.
    raw = raw_request(port, f"PUT {base}/{name}/nolen HTTP/1.1\r\nHost: x\r\n"
                            f"X-Auth-Token: {token}\r\nConnection: close\r\n\r\n".encode())
    assert status_of(raw) == 411
    raw = raw_request(port, f"PUT {base}/{name}/badlen HTTP/1.1\r\nHost: x\r\n"
                            f"X-Auth-Token: {token}\r\nContent-Length: abc\r\n"
                            f"Connection: close\r\n\r\n".encode())
    assert status_of(raw) == 400
