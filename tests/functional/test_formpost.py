"""formpost through the real proxy of the shared cluster: forms encoded by ``requests``
(urllib3's multipart encoder), posted anonymously like a browser would."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from oiofs.proxy.middleware.formpost_form import sign
from tests.support.proxy_client import unique

KEY = "form-secret"


@pytest.fixture
def form_target(client):
    """``(url, path)`` of a container with a temp URL key (the form's action)."""
    name = unique("form")
    assert client.request("PUT", f"/{name}", headers={
        "X-Container-Meta-Temp-URL-Key": KEY}).status == 201
    path = f"{client.base_path}/{name}"
    return f"http://{client.host}:{client.port}{path}", path


def fields(path: str, redirect: str = "", max_size: int = 1 << 20, max_count: int = 5,
           expires: int | None = None, digest: str = "sha256", key: str = KEY) -> dict:
    expires = int(time.time() + 300) if expires is None else expires
    return {"redirect": redirect, "max_file_size": str(max_size),
            "max_file_count": str(max_count), "expires": str(expires),
            "signature": sign(key.encode(), path, redirect, max_size, max_count, expires,
                              digest)}


def test_formpost_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["formpost"]["allowed_digests"] == ["sha1", "sha256", "sha512"]


def test_several_files_and_a_redirect(client, form_target):
    url, path = form_target
    big = bytes(range(256)) * 8192  # 2 MiB, streamed through
    resp = requests.post(url + "/up-", data=fields(path + "/up-", "https://app/done",
                                                   max_size=3 << 20),
                         files=[("f1", ("a.txt", b"hello", "text/plain")),
                                ("f2", ("b.bin", big, "application/x-b"))],
                         allow_redirects=False, timeout=60)
    assert resp.status_code == 303, resp.text
    location = urlsplit(resp.headers["Location"])
    assert location.netloc == "app"
    assert parse_qs(location.query, keep_blank_values=True) == {"status": ["201"],
                                                                "message": [""]}
    container = path.rsplit("/", 1)[1]
    got = client.request("GET", f"/{container}/up-a.txt")
    assert (got.body, got.headers["content-type"]) == (b"hello", "text/plain")
    got = client.request("GET", f"/{container}/up-b.bin")
    assert got.body == big and got.headers["content-type"] == "application/x-b"


@pytest.mark.parametrize("digest", ["sha1", "sha512"])
def test_no_redirect_and_account_key(client, form_target, digest):
    url, path = form_target
    assert client.request("POST", "", headers={
        "X-Account-Meta-Temp-URL-Key-2": "account-key"}).status == 204
    try:
        resp = requests.post(url, data=fields(path, digest=digest, key="account-key"),
                             files={"file": ("x y.txt", b"data")}, timeout=30)
        assert (resp.status_code, resp.text) == (201, "201 Created")
        assert client.request("GET", f"/{path.rsplit('/', 1)[1]}/x y.txt").body == b"data"
    finally:
        client.request("POST", "", headers={"X-Remove-Account-Meta-Temp-URL-Key-2": "x"})


def test_refusals(client, form_target):
    url, path = form_target
    container = path.rsplit("/", 1)[1]
    resp = requests.post(url, data=fields(path, expires=int(time.time()) - 1),
                         files={"f": ("e", b"x")}, timeout=30)
    assert (resp.status_code, resp.text) == (401, "401 Unauthorized\r\nFormPost: Form Expired")
    resp = requests.post(url, data=fields(path, "https://app/", key="wrong"),
                         files={"f": ("s", b"x")}, allow_redirects=False, timeout=30)
    assert resp.status_code == 303
    assert "status=401&message=invalid%20signature" in resp.headers["Location"]
    resp = requests.post(url, data=fields(path, max_size=10),
                         files={"f": ("big", b"x" * 11)}, timeout=30)
    assert (resp.status_code, resp.text) == \
        (400, "400 Bad Request\r\nFormPost: Max_File_Size Exceeded")
    resp = requests.post(url, data=fields(path, max_count=1),
                         files=[("f", ("one", b"1")), ("g", ("two", b"2"))], timeout=30)
    assert resp.status_code == 400 and "Max File Count Exceeded" in resp.text
    resp = requests.post(url, data=b"--nope\r\n", timeout=30,
                         headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 400 and resp.text.startswith("FormPost: ")
    for name, status in (("e", 404), ("s", 404), ("big", 404), ("one", 200), ("two", 404)):
        assert client.request("HEAD", f"/{container}/{name}").status == status, name
