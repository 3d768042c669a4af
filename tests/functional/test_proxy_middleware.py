"""The Swift middleware filters through the real proxy of the shared cluster.

gatekeeper (internal headers never cross the proxy's edge) and tempurl (signed URLs used
with plain ``urllib``; the signer is the client library's, an independent implementation).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from oiofs.client import generate_temp_url
from tests.support.proxy_client import Client, unique


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


# --- tempurl ---------------------------------------------------------------------------


def fetch(url: str, method: str = "GET", data: bytes | None = None,
          headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request with plain urllib: ``(status, lower-case headers, body)``."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture
def signed(client, container):
    """A container with an object and its own temp URL key; the account has another."""
    assert client.request("POST", f"/{container}",
                          headers={"X-Container-Meta-Temp-URL-Key": "ckey"}).status == 204
    assert client.request("PUT", f"/{container}/dir/obj.txt", body=b"secret data",
                          headers={"X-Object-Meta-Color": "red",
                                   "X-Object-Meta-Public-Tag": "t"}).status == 201
    return f"{client.storage_url}/{container}/dir/obj.txt"


def test_tempurl_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["tempurl"]["methods"] == ["GET", "HEAD", "PUT", "POST", "DELETE"]
    assert info["tempurl"]["allowed_digests"] == ["sha1", "sha256", "sha512"]
    assert info["tempurl"]["outgoing_allow_headers"] == ["x-object-meta-public-*"]


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_tempurl_get_with_each_digest(signed, digest):
    status, headers, body = fetch(generate_temp_url(signed, "ckey", 60, digest=digest))
    assert (status, body) == (200, b"secret data")
    assert headers["content-disposition"] == \
        "attachment; filename=\"obj.txt\"; filename*=UTF-8''obj.txt"
    assert "x-object-meta-color" not in headers  # outgoing_remove_headers
    assert headers["x-object-meta-public-tag"] == "t"  # outgoing_allow_headers


def test_tempurl_refused_when_wrong_expired_or_unsigned(signed):
    assert fetch(signed)[0] == 401  # anonymous, no temp URL
    assert fetch(generate_temp_url(signed, "wrong", 60))[0] == 401
    status, _, body = fetch(generate_temp_url(signed, "ckey", expires=int(time.time()) - 1))
    assert (status, body) == (401, b"401 Unauthorized: Temp URL invalid\n")
    # signed for GET, used to DELETE
    url = generate_temp_url(signed, "ckey", 60)
    assert fetch(url, "DELETE")[0] == 401
    assert fetch(signed + "?temp_url_sig=abc")[0] == 401
    # HEAD is allowed with a GET signature
    assert fetch(url, "HEAD")[0] == 200


def test_tempurl_put_delete_and_account_key(client, container, signed):
    assert client.request("POST", "", headers={
        "X-Account-Meta-Temp-URL-Key-2": "akey"}).status == 204
    try:
        target = f"{client.storage_url}/{container}/uploaded"
        put = generate_temp_url(target, "akey", 60, method="PUT")
        assert fetch(put, "PUT", b"from a browser")[0] == 201
        assert client.request("GET", f"/{container}/uploaded").body == b"from a browser"
        # the URL opens its own object only, not a copy source
        assert fetch(put, "PUT", b"", {"X-Copy-From": f"/{container}/dir/obj.txt"})[0] \
            == 403
        assert fetch(generate_temp_url(target, "akey", 60, method="DELETE"), "DELETE")[0] \
            == 204
        assert client.request("GET", f"/{container}/uploaded").status == 404
    finally:
        client.request("POST", "", headers={"X-Remove-Account-Meta-Temp-URL-Key-2": "x"})


def test_tempurl_prefix_iso_expiry_ip_range_filename_inline(client, container, signed):
    base = f"{client.storage_url}/{container}/"
    url = generate_temp_url(base + "dir/", "ckey", 60, prefix=True)
    assert fetch(url.replace("/dir/?", "/dir/obj.txt?"))[2] == b"secret data"
    assert fetch(url.replace("/dir/?", "/other?"))[0] == 401
    # ISO 8601 expiry: the signature covers the epoch value
    expires = int(time.time()) + 60
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    url = generate_temp_url(signed, "ckey", expires=expires)
    assert fetch(url.replace(f"temp_url_expires={expires}", f"temp_url_expires={iso}"))[0] \
        == 200
    assert fetch(generate_temp_url(signed, "ckey", 60, ip_range="127.0.0.0/8"))[0] == 200
    assert fetch(generate_temp_url(signed, "ckey", 60, ip_range="10.1.2.3"))[0] == 401
    headers = fetch(generate_temp_url(signed, "ckey", 60, filename="my report.txt"))[1]
    assert headers["content-disposition"] == \
        "attachment; filename=\"my report.txt\"; filename*=UTF-8''my%20report.txt"
    headers = fetch(generate_temp_url(signed, "ckey", 60) + "&inline")[1]
    assert headers["content-disposition"] == "inline"


def test_tempurl_keys_hidden_from_non_owners(cluster, client, container, signed):
    # tester3 (not an admin) may read the container through its ACL, not see its key
    assert client.request("POST", f"/{container}", headers={
        "X-Container-Read": "test:tester3"}).status == 204
    other = Client(cluster, "test:tester3")
    try:
        resp = other.request("HEAD", f"/{container}")
        assert resp.status == 204
        assert "x-container-meta-temp-url-key" not in resp.headers
    finally:
        other.close()
    assert client.request("HEAD", f"/{container}").headers[
        "x-container-meta-temp-url-key"] == "ckey"
