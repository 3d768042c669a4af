"""HTTP-level behaviour of the proxy and the storage servers, byte for byte.

Raw UTF-8 request targets, statuses of malformed paths, no body after ``HEAD``/204
headers on a keep-alive connection, Swift's error pages, a safe ``WWW-Authenticate``,
and XML listings that stay 200 while objects are written.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from tests.support.proxy_client import Client, unique
from tests.support.rawhttp import RawConnection

NOT_FOUND_PAGE = b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"


@pytest.fixture(scope="module")
def auth(client):
    return {"X-Auth-Token": client.token}


@pytest.fixture(scope="module")
def container(client):
    name = unique("http")
    assert client.request("PUT", f"/{name}").status == 201
    return name


def proxy(cluster) -> RawConnection:
    return RawConnection(cluster.layout.proxy_port)


# --- raw UTF-8 in the request line ----------------------------------------------------


@pytest.mark.parametrize("name", [
    "voil\u00e0",          # UTF-8 ends in 0xa0: a "space" once decoded as latin-1
    "\u00c5ngstr\u00f6m",  # 0xc3 0x85: 0x85 is "next line" in latin-1
    "caf\u00e9 \u2603 \U0001f600".replace(" ", "-"),
])
def test_raw_utf8_object_name(cluster, client, auth, container, name):
    raw = f"/v1/AUTH_test/{container}/{name}".encode()
    with proxy(cluster) as conn:
        put = conn.request("PUT", raw, auth, body=b"raw")
        assert put.status == 201
        # the same object through a percent-encoded request, on the same connection
        got = conn.request("GET", f"/v1/AUTH_test/{container}/{quote(name)}".encode(), auth)
        assert (got.status, got.body) == (200, b"raw")
        head = conn.request("HEAD", raw, auth)
        assert head.status == 200 and head.body == b""
    listing = json.loads(client.request("GET", f"/{container}?format=json",
                                        quote_path=False).body)
    assert name in [item["name"] for item in listing]


def test_raw_utf8_container_name(cluster, client, auth):
    name = unique("r\u00e0w")
    with proxy(cluster) as conn:
        assert conn.request("PUT", f"/v1/AUTH_test/{name}".encode(), auth).status == 201
        assert conn.request("PUT", f"/v1/AUTH_test/{name}/o".encode(), auth,
                            body=b"x").status == 201
    names = [c["name"] for c in json.loads(client.request(
        "GET", "?format=json&prefix=" + quote(name), quote_path=False).body)]
    assert names == [name]


@pytest.mark.parametrize("target", [
    b"/v1/AUTH_test/c/\xff", b"/v1/AUTH_test/\xc3(", b"/v1/AUTH_test/c/%FF%FE",
    b"/v1/AUTH_test/c/a%00b", b"/v1/AUTH_test/c/\xed\xa0\x80",
])
def test_invalid_utf8_is_412_and_keeps_the_connection(cluster, auth, target):
    with proxy(cluster) as conn:
        answer = conn.request("GET", target, auth)
        assert answer.status == 412
        assert answer.body == b"Invalid UTF8 or contains NULL"
        assert conn.request("HEAD", b"/v1/AUTH_test", auth).status == 204


def test_storage_servers_take_raw_utf8(cluster):
    node = cluster.nodes[0]
    for port in (node["object_port"], node["container_port"], node["account_port"]):
        with RawConnection(port) as conn:
            raw = f"/{node['device']}/0/AUTH_x/c\u00e0/o\u00c5".encode()
            if port != node["object_port"]:
                raw = f"/{node['device']}/0/AUTH_x/c\u00e0".encode()
                if port == node["account_port"]:
                    raw = f"/{node['device']}/0/AUTH_x\u00e0".encode()
            assert conn.request("HEAD", raw).status == 404
            bad = conn.request("GET", f"/{node['device']}/0/AUTH_x/\xff".encode("latin-1"))
            assert bad.status == 412
            assert conn.request("HEAD", raw).status == 404  # still the same connection


# --- paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("target, status", [
    (b"/v1", 412), (b"/v1/", 412), (b"/v1//c", 412), (b"/v1/AUTH_test//o", 412),
    (b"/", 404), (b"/v2/AUTH_test", 400),
])
def test_malformed_paths(cluster, auth, target, status):
    with proxy(cluster) as conn:
        answer = conn.request("GET", target, auth)
        assert answer.status == status, answer
        assert answer.header("Content-Type") == "text/html; charset=UTF-8"


def test_dot_segments_never_reach_another_resource(cluster, client, auth):
    target = unique("target")
    other = unique("other")
    assert client.request("PUT", f"/{target}").status == 201
    assert client.request("PUT", f"/{other}").status == 201
    assert client.request("PUT", f"/{target}/secret", body=b"secret").status == 201
    attempts = [
        f"/v1/AUTH_test/{other}/../{target}/secret",
        f"/v1/AUTH_test/{other}/%2e%2e/{target}/secret",
        f"/v1/AUTH_test/{other}/%2E%2E/{target}/secret",
        f"/v1/AUTH_test/{other}/./../{target}/secret",
        f"/v1/AUTH_test/{other}//../{target}/secret",
        f"/v1/AUTH_test/../AUTH_test/{target}/secret",
        f"/v1/AUTH_test/%2e%2e/AUTH_test/{target}/secret",
        f"/v1/AUTH_test2/../AUTH_test/{target}/secret",
        f"/v1/AUTH_test/{target}/..",
        f"/v1/AUTH_test/{target}/%2e",
        f"/v1/AUTH_test/./{target}/secret",
    ]
    with proxy(cluster) as conn:
        for path in attempts:
            answer = conn.request("GET", path.encode(), auth)
            assert answer.status in (400, 404, 412), (path, answer)
            assert b"secret" != answer.body
    # nothing was written anywhere by a dot path
    with proxy(cluster) as conn:
        answer = conn.request("PUT", f"/v1/AUTH_test/{other}/../{target}/secret".encode(),
                              auth, body=b"overwritten")
        assert answer.status in (201, 400)
    assert client.request("GET", f"/{target}/secret").body == b"secret"


# --- no body after HEAD, 204 or 304 headers -----------------------------------------


@pytest.mark.parametrize("target, with_token, status", [
    (b"/v1/AUTH_test/no-such-container-zz/o", True, 404),
    (b"/v1/AUTH_test/no-such-container-zz", True, 404),
    (b"/v1/AUTH_test/c/o", False, 401),
    (b"/v1", True, 412),
    (b"/v1/AUTH_test/c/\xff", True, 412),
])
def test_head_answers_have_no_body_on_keep_alive(cluster, auth, target, with_token, status):
    headers = auth if with_token else {}
    with proxy(cluster) as conn:
        head = conn.request("HEAD", target, headers)
        assert head.status == status and head.body == b""
        # a stray body would be read here as the start of this answer
        get = conn.request("GET", b"/v1/AUTH_test/no-such-container-zz", auth)
        assert get.status == 404 and get.body == NOT_FOUND_PAGE


def test_head_healthcheck_and_auth_have_no_body(cluster, auth):
    with proxy(cluster) as conn:
        assert conn.request("HEAD", b"/healthcheck").body == b""
        assert conn.request("HEAD", b"/auth/v1.0").status == 401
        assert conn.request("HEAD", b"/info").status == 200
        assert conn.request("GET", b"/healthcheck").body == b"OK"


def test_storage_server_head_has_no_body(cluster):
    node = cluster.nodes[0]
    with RawConnection(node["object_port"]) as conn:
        head = conn.request("HEAD", f"/{node['device']}/0/AUTH_x/c/missing".encode())
        assert head.status == 404 and head.body == b""
        bad = conn.request("HEAD", b"/nodev")
        assert bad.status >= 400 and bad.body == b""
        get = conn.request("GET", f"/{node['device']}/0/AUTH_x/c/missing".encode())
        assert get.status == 404 and get.body == NOT_FOUND_PAGE


def test_204_answers_say_content_length_zero(cluster, client, auth):
    empty = unique("empty")
    assert client.request("PUT", f"/{empty}").status == 201
    with proxy(cluster) as conn:
        for method, target in (("HEAD", b"/v1/AUTH_test"), ("HEAD", f"/v1/AUTH_test/{empty}"),
                               ("GET", f"/v1/AUTH_test/{empty}")):
            target = target if isinstance(target, bytes) else target.encode()
            answer = conn.request(method, target, auth)
            assert answer.status == 204, (method, target)
            assert answer.header("Content-Length") == "0"
            assert answer.body == b""


def test_304_has_no_body(cluster, client, auth, container):
    put = client.request("PUT", f"/{container}/cond", body=b"data")
    with proxy(cluster) as conn:
        answer = conn.request("GET", f"/v1/AUTH_test/{container}/cond".encode(),
                              dict(auth, **{"If-None-Match": put.headers["etag"]}))
        assert answer.status == 304 and answer.body == b""
        assert conn.request("GET", f"/v1/AUTH_test/{container}/cond".encode(),
                            auth).body == b"data"


# --- error bodies and WWW-Authenticate ------------------------------------------------


def test_error_pages_are_swifts(cluster, auth):
    with proxy(cluster) as conn:
        missing = conn.request("GET", b"/v1/AUTH_test/no-such-container-zz", auth)
        assert missing.body == NOT_FOUND_PAGE
        assert missing.header("Content-Type") == "text/html; charset=UTF-8"
        assert missing.header("Content-Length") == str(len(NOT_FOUND_PAGE))
        anonymous = conn.request("GET", b"/v1/AUTH_test/c/o")
        assert anonymous.status == 401
        assert anonymous.body.startswith(b"<html><h1>Unauthorized</h1>")
        assert anonymous.header("WWW-Authenticate") == 'Swift realm="AUTH_test"'


@pytest.mark.parametrize("account", [
    '%22%0d%0aX-Injected:%20yes', "a%0aSet-Cookie:x=1", 'A"B', "%E2%98%83",
])
def test_www_authenticate_cannot_be_injected(cluster, account):
    with proxy(cluster) as conn:
        answer = conn.request("GET", f"/v1/{account}/c".encode())
        assert answer.status == 401
        assert answer.header("X-Injected") is None and answer.header("Set-Cookie") is None
        realm = answer.all("WWW-Authenticate")
        assert len(realm) == 1
        value = realm[0]
        assert value.startswith('Swift realm="') and value.endswith('"')
        inner = value[len('Swift realm="'):-1]
        assert '"' not in inner and "\r" not in inner and "\n" not in inner
        assert inner.isascii()


# --- listings under writes ------------------------------------------------------------

# characters XML 1.0 cannot carry, which any UTF-8 object name may hold
XML_HOSTILE = ["\ufffe", "\uffff", "\x01", "\x1f", "\x0b"]


def test_xml_listings_stay_200_while_objects_are_written(cluster, client):
    name = unique("xmlload")
    assert client.request("PUT", f"/{name}").status == 201
    for i, ch in enumerate(XML_HOSTILE):
        assert client.request("PUT", f"/{name}/odd{i}{ch}", body=b"x").status == 201
    deadline = time.monotonic() + 6
    failures: list = []
    counts = {"put": 0, "list": 0}

    def writer(n):
        c = Client(cluster)
        i = 0
        try:
            while time.monotonic() < deadline:
                status = c.request("PUT", f"/{name}/w{n}-{i}{XML_HOSTILE[i % 5]}",
                                   body=b"y").status
                if status != 201:
                    failures.append(("PUT", status))
                counts["put"] += 1
                i += 1
        finally:
            c.close()

    def lister(query):
        c = Client(cluster)
        try:
            while time.monotonic() < deadline:
                resp = c.request("GET", f"/{name}?{query}", quote_path=False)
                if resp.status != 200:
                    failures.append((query, resp.status, resp.body[:200]))
                else:
                    ElementTree.fromstring(resp.body)  # well-formed
                counts["list"] += 1
                account = c.request("GET", "?format=xml&prefix=" + quote(name),
                                    quote_path=False)
                if account.status != 200:
                    failures.append(("account", account.status))
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=lister, args=(q,))
                for q in ("format=xml", "format=json&format=xml")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:5]
    assert counts["put"] > 0 and counts["list"] > 0
    body = client.request("GET", f"/{name}?format=xml", quote_path=False).body
    names = [e.text for e in ElementTree.fromstring(body).iter("name")]
    assert "odd0\ufffd" in names  # the character replaced, the entry kept


def test_format_given_twice_counts_by_its_last_value(cluster, client, container):
    listing = client.request("GET", f"/{container}?format=json&format=xml", quote_path=False)
    assert listing.status == 200 and listing.body.startswith(b"<?xml")
    admin = Client(cluster, "admin:admin")
    admin.base_path = "/v1/" + unique("AUTH_fresh")  # an account not created yet
    try:
        empty = admin.request("GET", "?format=json&format=xml", quote_path=False)
        assert empty.status == 200
        assert ElementTree.fromstring(empty.body).tag == "account"
    finally:
        admin.close()
