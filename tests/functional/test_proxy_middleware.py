"""The Swift middleware filters through the real proxy of the shared cluster.

gatekeeper (internal headers never cross the proxy's edge) and tempurl (signed URLs used
with plain ``urllib``; the signer is the client library's, an independent implementation).
"""

from __future__ import annotations

import json

import pytest

from tests.support.proxy_client import Client, unique


@pytest.fixture(scope="module")
def client(cluster):
    c = Client(cluster)
    yield c
    c.close()


@pytest.fixture
def container(client):
    name = unique("mw")
    assert client.request("PUT", f"/{name}").status == 201
    return name


def test_gatekeeper_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert "gatekeeper" in info


def test_gatekeeper_drops_internal_request_headers(client, container):
    # A client claiming to be a large-object manifest, or to pick a backend policy index,
    # is stored as the plain object it is.
    resp = client.request("PUT", f"/{container}/o", body=b"plain", headers={
        "X-Object-Sysmeta-Slo-Size": "999", "X-Object-Sysmeta-Slo-Etag": "abc",
        "X-Backend-Storage-Policy-Index": "99", "X-Timestamp": "1.00000"})
    assert resp.status == 201, resp
    resp = client.request("GET", f"/{container}/o")
    assert (resp.status, resp.body) == (200, b"plain")
    assert not [h for h in resp.headers if h.startswith("x-backend-") or "sysmeta" in h]
    assert "x-static-large-object" not in resp.headers
    assert float(resp.headers["x-timestamp"]) > 1e9
