"""tempauth and ACLs through the real proxy: who may do what, 401 versus 403, bad input."""

from __future__ import annotations

import json
import os
import time

import pytest

from oiofs.proxy.middleware.tokens import TokenSigner
from tests.support.proxy_client import Client, raw_request, status_of, unique


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


# --- account ACLs (X-Account-Access-Control) ------------------------------------------------

ACCOUNT_ACL = "X-Account-Access-Control"


@pytest.fixture
def acl_account(cluster):
    """AUTH_test2 as its owner sees it, with its account ACL removed again at the end;
    plus clients of test:tester3 and test:tester aimed at it."""
    owner2 = Client(cluster, "test2:tester2")
    tester3 = Client(cluster, None, owner2.storage_url, Client(cluster, "test:tester3").token)
    tester = Client(cluster, None, owner2.storage_url, Client(cluster, "test:tester").token)
    try:
        yield owner2, tester3, tester
    finally:
        assert owner2.request("POST", headers={ACCOUNT_ACL: ""}).status == 204
        for c in (owner2, tester3, tester):
            c.close()


def test_account_acl_is_checked_and_shown_only_to_owners(acl_account):
    owner2, tester3, _tester = acl_account
    for bad, reason in (("{oops", b"Syntax error in input"),
                        ('{"owner": ["test"]}', b'Key "owner" not recognized'),
                        ('{"read-only": "test"}', b'Value for key "read-only" must be a list'),
                        ('{"admin": [1]}', b'Elements of "admin" list must be strings')):
        resp = owner2.request("POST", headers={ACCOUNT_ACL: bad})
        assert resp.status == 400 and reason in resp.body, (bad, resp)
    assert ACCOUNT_ACL.lower() not in owner2.request("HEAD").headers
    acl = '{"read-only":["test:tester3"]}'
    assert owner2.request("POST", headers={ACCOUNT_ACL: acl}).status == 204
    for method in ("HEAD", "GET"):
        resp = owner2.request(method)
        assert resp.headers[ACCOUNT_ACL.lower()] == acl
        assert not any(k.startswith("x-account-sysmeta-") for k in resp.headers)
        seen = tester3.request(method)
        assert seen.status in (200, 204)
        assert ACCOUNT_ACL.lower() not in seen.headers
        assert not any(k.startswith("x-account-sysmeta-") for k in seen.headers)
    # A client cannot forge the stored form through a header of its own.
    forged = '{"admin":["test:tester3"]}'
    assert owner2.request("POST", headers={"X-Account-Sysmeta-Core-Access-Control":
                                           forged}).status == 204
    assert owner2.request("HEAD").headers[ACCOUNT_ACL.lower()] == acl
    assert tester3.request("POST", headers={"X-Account-Meta-X": "y"}).status == 403


def test_account_acl_levels(acl_account):
    owner2, tester3, tester = acl_account
    name = unique("acct-acl")
    assert owner2.request("PUT", f"/{name}").status == 201
    assert owner2.request("PUT", f"/{name}/o", body=b"data").status == 201

    def rights(client):
        """(list account, list container, read object, write object, delete object,
        POST container, create container, POST account metadata)"""
        spare = unique("spare")
        out = (client.request("GET").status, client.request("GET", f"/{name}").status,
               client.request("GET", f"/{name}/o").status,
               client.request("PUT", f"/{name}/w", body=b"w").status,
               client.request("DELETE", f"/{name}/w").status,
               client.request("POST", f"/{name}",
                              headers={"X-Container-Meta-K": "v"}).status,
               client.request("PUT", f"/{spare}").status,
               client.request("POST", headers={"X-Account-Meta-K": "v"}).status)
        owner2.request("DELETE", f"/{spare}")
        return out

    forbidden = (403,) * 8
    assert rights(tester3) == forbidden
    assert rights(tester) == forbidden
    acl = json.dumps({"read-only": ["test:tester3"], "read-write": ["test:tester"]})
    assert owner2.request("POST", headers={ACCOUNT_ACL: acl}).status == 204
    assert rights(tester3) == (200, 200, 200, 403, 403, 403, 403, 403)
    assert rights(tester) == (200, 200, 200, 201, 204, 204, 201, 403)
    # read-write may change a container but not its ACLs (ignored, as in Swift), nor
    # set the account ACL; it does not see ACLs either.
    assert tester.request("POST", f"/{name}",
                          headers={"X-Container-Read": "test:tester3"}).status == 204
    assert "x-container-read" not in owner2.request("HEAD", f"/{name}").headers
    assert tester.request("POST", headers={ACCOUNT_ACL: "{}"}).status == 403
    assert ACCOUNT_ACL.lower() not in tester.request("HEAD").headers
    # admin: everything the owner may do, ACLs included.
    acl = json.dumps({"admin": ["test:tester3"]})
    assert owner2.request("POST", headers={ACCOUNT_ACL: acl}).status == 204
    assert rights(tester3) == (200, 200, 200, 201, 204, 204, 201, 204)
    assert tester3.request("HEAD").headers[ACCOUNT_ACL.lower()] == '{"admin":["test:tester3"]}'
    assert tester3.request("POST", f"/{name}",
                           headers={"X-Container-Read": "test:tester"}).status == 204
    assert tester3.request("HEAD", f"/{name}").headers["x-container-read"] == "test:tester"
    assert rights(tester)[:3] == (403, 200, 200)  # now through the container read ACL
    assert tester3.request("POST", headers={ACCOUNT_ACL: ""}).status == 204
    assert rights(tester3) == forbidden
