"""crossdomain, list_endpoints and domain_remap through the real proxy of the shared
cluster (domain_remap with Host headers only: no DNS is involved)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from lxml import etree

from tests.support.proxy_client import Client, unique


def test_crossdomain(client):
    resp = client.request("GET", "/crossdomain.xml", absolute=True)
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/xml")
    doc = etree.fromstring(resp.body)
    assert doc.tag == "cross-domain-policy"
    assert doc[0].get("domain") == "*"


def test_list_endpoints_name_the_nodes_that_hold_an_object(client):
    container = unique("endp")
    assert client.request("PUT", f"/{container}").status == 201
    assert client.request("PUT", f"/{container}/a b", body=b"here").status == 201
    resp = client.request("GET", f"/endpoints/v2/AUTH_test/{container}/a%20b",
                          absolute=True)
    assert resp.status == 200, resp
    doc = json.loads(resp.body)
    assert len(doc["endpoints"]) == 3
    policy = doc["headers"]["X-Backend-Storage-Policy-Index"]
    for url in doc["endpoints"]:  # ask each object server directly
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert parts.path.endswith(f"/AUTH_test/{container}/a%20b")
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("GET", parts.path,
                         headers={"X-Backend-Storage-Policy-Index": policy})
            got = conn.getresponse()
            assert (got.status, got.read()) == (200, b"here")
        finally:
            conn.close()
    legacy = json.loads(client.request("GET", f"/endpoints/AUTH_test/{container}",
                                       absolute=True).body)
    assert isinstance(legacy, list) and len(legacy) == 3
    assert client.request("PUT", "/endpoints/AUTH_test", absolute=True).status == 405
    assert client.request("GET", "/endpoints/", absolute=True).status == 400


def test_domain_remap_with_host_headers(cluster, client):
    container = unique("remap")
    assert client.request("PUT", f"/{container}", headers={
        "X-Container-Read": ".r:*,.rlistings",
        "X-Container-Meta-Web-Index": "index.html"}).status == 201
    resp = client.request("PUT", f"/{container}/docs/index.html", absolute=True,
                          body=b"docs", headers={"Host": "auth-test.example.com"})
    assert resp.status == 201, resp
    assert client.request("GET", f"/{container}/docs/index.html").body == b"docs"
    anonymous = Client(cluster, user=None)
    try:
        site = f"{container}.auth-test.example.com"
        resp = anonymous.request("GET", "/docs/index.html", absolute=True,
                                 headers={"Host": site})
        assert (resp.status, resp.body) == (200, b"docs")
        resp = anonymous.request("GET", "/docs", absolute=True, headers={"Host": site})
        assert (resp.status, resp.headers["location"]) == (301, "/docs/")
        resp = anonymous.request("GET", "/docs/", absolute=True, headers={"Host": site})
        assert resp.body == b"docs"
        resp = anonymous.request("GET", "/docs/index.html", absolute=True,
                                 headers={"Host": "unrelated.example.org"})
        assert resp.status in (400, 404, 412)  # not remapped: not an API path
    finally:
        anonymous.close()
