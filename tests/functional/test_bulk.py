"""bulk through the real proxy of the shared cluster: a tar of 1,000 files extracted
(streamed from a file on disk), compressed archives creating containers, per-member
errors in each format, and bulk delete."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from lxml import etree

from tests.support.proxy_client import Client, unique


def make_tar(path: str, files: dict[str, bytes], mode: str = "w") -> None:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def send_file(client: Client, path: str, url: str, headers: dict | None = None):
    """A PUT whose body is streamed from the file at ``path`` by http.client."""
    with open(path, "rb") as body:
        return client.request("PUT", url, body=body, quote_path=False, headers={
            "Content-Length": str(os.path.getsize(path)), **(headers or {})})


def test_bulk_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["bulk_delete"]["max_deletes_per_request"] == 10000
    assert info["bulk_upload"]["max_containers_per_extraction"] == 10000


def test_tar_of_1000_files_extracted_then_bulk_deleted(client, tmp_path):
    container = unique("bulk")
    files = {f"dir{i % 10}/file{i:04d}.txt": f"content {i}\n".encode() for i in range(1000)}
    make_tar(str(tmp_path / "a.tar"), files)
    resp = send_file(client, str(tmp_path / "a.tar"), f"/{container}?extract-archive=tar",
                     {"Accept": "application/json"})
    assert resp.status == 200, resp
    result = json.loads(resp.body)
    assert result == {"Number Files Created": 1000, "Response Status": "201 Created",
                      "Response Body": "", "Errors": []}
    listing = json.loads(client.request("GET", f"/{container}?format=json&limit=10000",
                                        quote_path=False).body)
    assert sorted(o["name"] for o in listing) == sorted(files)
    assert client.request("GET", f"/{container}/dir7/file0517.txt").body == b"content 517\n"
    assert client.request("HEAD", f"/{container}/dir7/file0517.txt"
                          ).headers["content-type"].startswith("text/plain")

    names = sorted(files)[:100]
    body = "".join(f"/{container}/{n}\n" for n in names) + f"/{container}\n/{container}/nope"
    resp = client.request("POST", "?bulk-delete", body=body.encode(), quote_path=False,
                          headers={"Content-Type": "text/plain",
                                   "Accept": "application/json"})
    assert resp.status == 200
    result = json.loads(resp.body)
    assert (result["Number Deleted"], result["Number Not Found"]) == (100, 1)
    assert result["Errors"] == [[f"/{container}", "409 Conflict"]]  # not empty
    assert result["Response Status"] == "400 Bad Request"
    assert client.request("HEAD", f"/{container}/{names[0]}").status == 404
    assert client.request("HEAD", f"/{container}/{sorted(files)[100]}").status == 200


def test_account_level_tar_gz_creates_containers_and_reports_errors(client, tmp_path):
    full, free = unique("bulkq"), unique("bulkf")
    assert client.request("PUT", f"/{full}", headers={
        "X-Container-Meta-Quota-Count": "1"}).status == 201
    make_tar(str(tmp_path / "b.tar.gz"), {
        f"{full}/one": b"1", f"{full}/two": b"2", f"{free}/sub/x y": b"xy",
        "ignored-top-level-file": b"?"}, "w:gz")
    resp = send_file(client, str(tmp_path / "b.tar.gz"), "?extract-archive=tar.gz",
                     {"Accept": "application/xml"})
    assert resp.status == 200, resp
    root = etree.fromstring(resp.body.strip())
    assert root.tag == "extract"
    assert root.findtext("number_files_created") == "2"
    assert root.findtext("response_status") == "400 Bad Request"
    assert [(o.findtext("name"), o.findtext("status")) for o in root.iter("object")] == \
        [(f"/v1/AUTH_test/{full}/two", "413 Request Entity Too Large")]  # its quota
    assert client.request("GET", f"/{free}/sub/x y").body == b"xy"


def test_bad_archives_and_requests(client, tmp_path):
    container = unique("bulkbad")
    resp = client.request("PUT", f"/{container}?extract-archive=tar", body=b"not a tar" * 100,
                          quote_path=False)
    assert resp.status == 200
    assert b"Response Status: 400 Bad Request" in resp.body
    assert b"Invalid Tar File" in resp.body
    assert client.request("PUT", f"/{container}?extract-archive=zip", body=b"x",
                          quote_path=False).status == 400
    assert client.request("PUT", f"/{container}?extract-archive=tar", body=b"x",
                          quote_path=False, headers={"Accept": "image/png"}).status == 406
    too_many = "".join(f"/c/o{i}\n" for i in range(10001)).encode()
    resp = client.request("DELETE", "?bulk-delete", body=too_many, quote_path=False)
    assert b"Response Status: 413 Request Entity Too Large" in resp.body
    assert b"Maximum Bulk Deletes: 10000 per request" in resp.body


def test_subrequests_are_authorized(cluster, client, tmp_path):
    container = unique("bulkauth")
    assert client.request("PUT", f"/{container}").status == 201
    make_tar(str(tmp_path / "c.tar"), {"a/b": b"x"})
    anonymous = Client(cluster, user=None)
    try:
        resp = send_file(anonymous, str(tmp_path / "c.tar"),
                         f"/{container}?extract-archive=tar")
        assert b"Response Status: 401 Unauthorized" in resp.body
        resp = anonymous.request("DELETE", "?bulk-delete", quote_path=False,
                                 body=f"/{container}\n".encode())
        assert b"Response Status: 401 Unauthorized" in resp.body
    finally:
        anonymous.close()
    assert client.request("HEAD", f"/{container}").status == 204
    assert client.request("HEAD", f"/{container}/a/b").status == 404


@pytest.mark.parametrize("fmt", ["tar.bz2"])
def test_bz2_member_in_a_pseudo_directory(client, tmp_path, fmt):
    container = unique("bulkbz")
    make_tar(str(tmp_path / "d.tar.bz2"), {"./x/y": b"data"}, "w:bz2")
    resp = send_file(client, str(tmp_path / "d.tar.bz2"),
                     f"/{container}/pre?extract-archive={fmt}")
    assert b"Number Files Created: 1" in resp.body, resp
    assert client.request("GET", f"/{container}/pre/x/y").body == b"data"
