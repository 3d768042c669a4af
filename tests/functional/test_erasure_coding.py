"""Erasure-coded objects through the proxy on the shared cluster (policy ec42, 4+2):
every object verb, ranges, conditions, copies across policies, SLO segments, the bytes
on disk (docs/erasure-coding.md). Faults (nodes down, corrupted archives) are in
tests/probe/test_erasure_coding.py."""

import glob
import hashlib
import json
import os

import pytest

from tests.support.erasure import EC_POLICY, archive_files
from tests.support.probe import use_cluster_secret
from tests.support.proxy_client import unique
from tests.support.waiting import wait_for

MIB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def ec_container(client):
    name = unique("ec")
    resp = client.request("PUT", f"/{name}", headers={"X-Storage-Policy": EC_POLICY})
    assert resp.status == 201, resp
    return name


@pytest.fixture(scope="module")
def big(client, ec_container):
    """A 2.5 MiB object: three segments, the last one short."""
    body = os.urandom(2 * MIB + MIB // 2)
    assert client.request("PUT", f"/{ec_container}/big", body=body).status == 201
    return body


def test_policy_of_containers_and_info(client, ec_container):
    head = client.request("HEAD", f"/{ec_container}")
    assert head.headers["x-storage-policy"] == EC_POLICY
    # another policy for an existing container: refused
    assert client.request("PUT", f"/{ec_container}",
                          headers={"X-Storage-Policy": "Policy-0"}).status == 409
    assert client.request("PUT", f"/{ec_container}",
                          headers={"X-Storage-Policy": EC_POLICY}).status == 202
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    ec = [p for p in info["swift"]["policies"] if p["name"] == EC_POLICY][0]
    assert ec["policy_type"] == "erasure_coding"
    assert (ec["ec_num_data_fragments"], ec["ec_num_parity_fragments"]) == (4, 2)
    assert ec["ec_object_segment_size"] == MIB


@pytest.mark.parametrize("size", [0, 1, 4096, MIB, MIB + 1])
def test_put_get_head_sizes(client, ec_container, size):
    body = os.urandom(size)
    put = client.request("PUT", f"/{ec_container}/s{size}", body=body,
                         headers={"Content-Type": "x/y", "X-Object-Meta-Size": str(size)})
    assert put.status == 201 and put.headers["etag"] == md5(body)
    got = client.request("GET", f"/{ec_container}/s{size}")
    assert got.status == 200 and got.body == body
    assert got.headers["etag"] == md5(body) and got.headers["content-type"] == "x/y"
    head = client.request("HEAD", f"/{ec_container}/s{size}")
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == md5(body)
    assert head.headers["x-object-meta-size"] == str(size)
    assert not any(k.startswith("x-object-sysmeta") for k in head.headers)


def test_chunked_upload_and_listing(client, ec_container):
    body = os.urandom(MIB + 12345)
    pieces = (body[i:i + 100000] for i in range(0, len(body), 100000))
    # an iterable body without a length: http.client sends it chunked
    put = client.request("PUT", f"/{ec_container}/chunked", body=pieces)
    assert put.status == 201, put
    assert client.request("GET", f"/{ec_container}/chunked").body == body
    listing = json.loads(client.request("GET", f"/{ec_container}?format=json&prefix=chunked",
                                        quote_path=False).body)
    assert [(r["name"], r["bytes"], r["hash"]) for r in listing] == \
        [("chunked", len(body), md5(body))]


@pytest.mark.parametrize("spec, expect", [
    ("bytes=0-9", slice(0, 10)),
    ("bytes=1048570-1048590", slice(1048570, 1048591)),  # across a segment boundary
    ("bytes=-100", slice(-100, None)),
    ("bytes=2097152-", slice(2097152, None)),  # the last segment only
])
def test_ranges_read_only_their_segments(client, ec_container, big, spec, expect):
    got = client.request("GET", f"/{ec_container}/big", headers={"Range": spec})
    assert got.status == 206 and got.body == big[expect]
    first = expect.start if expect.start is None or expect.start >= 0 else len(big) + expect.start
    assert got.headers["content-range"].startswith(f"bytes {first}-")


def test_multiple_ranges_and_unsatisfiable(client, ec_container, big):
    got = client.request("GET", f"/{ec_container}/big",
                         headers={"Range": "bytes=0-1,2000000-2000004"})
    assert got.status == 206
    assert got.headers["content-type"].startswith("multipart/byteranges")
    assert big[:2] in got.body and big[2000000:2000005] in got.body
    bad = client.request("GET", f"/{ec_container}/big", headers={"Range": "bytes=9999999-"})
    assert bad.status == 416 and bad.headers["content-range"] == f"bytes */{len(big)}"


def test_conditional_requests_use_the_object_etag(client, ec_container, big):
    etag = md5(big)
    path = f"/{ec_container}/big"
    assert client.request("GET", path, headers={"If-None-Match": etag}).status == 304
    assert client.request("GET", path, headers={"If-Match": "nope"}).status == 412
    assert client.request("HEAD", path, headers={"If-Match": etag}).status == 200
    ranged = client.request("GET", path, headers={"If-Match": etag, "Range": "bytes=5-9"})
    assert ranged.status == 206 and ranged.body == big[5:10]
    # If-Range with another ETag: the whole object
    whole = client.request("GET", path, headers={"If-Range": '"other"', "Range": "bytes=5-9"})
    assert whole.status == 200 and whole.body == big


def test_post_delete_and_etag_check(client, ec_container):
    path = f"/{ec_container}/meta"
    assert client.request("PUT", path, body=b"x" * 5000).status == 201
    assert client.request("POST", path, headers={"X-Object-Meta-Color": "blue",
                                                 "Content-Type": "text/plain"}).status == 202
    head = client.request("HEAD", path)
    assert head.headers["x-object-meta-color"] == "blue"
    assert head.headers["content-type"] == "text/plain"
    assert head.headers["content-length"] == "5000"
    assert client.request("DELETE", path).status == 204
    assert client.request("GET", path).status == 404
    # a wrong client ETag: 422 and nothing committed
    bad = client.request("PUT", f"/{ec_container}/badetag", body=b"abc",
                         headers={"ETag": md5(b"abd")})
    assert bad.status == 422
    assert client.request("GET", f"/{ec_container}/badetag").status == 404


def test_copies_across_policies(client, ec_container, big):
    plain = unique("plain")
    assert client.request("PUT", f"/{plain}").status == 201
    # EC -> replicated, replicated -> EC, EC -> EC with a range
    assert client.request("COPY", f"/{ec_container}/big",
                          headers={"Destination": f"{plain}/copy"}).status == 201
    assert client.request("GET", f"/{plain}/copy").body == big
    assert client.request("PUT", f"/{ec_container}/back", body=b"",
                          headers={"X-Copy-From": f"{plain}/copy"}).status == 201
    back = client.request("GET", f"/{ec_container}/back")
    assert back.body == big and back.headers["etag"] == md5(big)
    ranged = client.request("PUT", f"/{ec_container}/part", body=b"",
                            headers={"X-Copy-From": f"{ec_container}/big",
                                     "Range": "bytes=1048000-1049999"})
    assert ranged.status == 201
    assert client.request("GET", f"/{ec_container}/part").body == big[1048000:1050000]


def test_slo_with_segments_in_ec(client, ec_container):
    pieces = [os.urandom(MIB + 7), os.urandom(3000)]
    entries = []
    for index, piece in enumerate(pieces):
        path = f"/{ec_container}/seg{index}"
        assert client.request("PUT", path, body=piece).status == 201
        entries.append({"path": path, "etag": md5(piece), "size_bytes": len(piece)})
    put = client.request("PUT", f"/{ec_container}/slo?multipart-manifest=put",
                         body=json.dumps(entries).encode(), quote_path=False)
    assert put.status == 201, put
    whole = b"".join(pieces)
    assert client.request("GET", f"/{ec_container}/slo").body == whole
    part = client.request("GET", f"/{ec_container}/slo",
                          headers={"Range": f"bytes={MIB}-{MIB + 99}"})
    assert part.status == 206 and part.body == whole[MIB:MIB + 100]


def test_bytes_on_disk_are_about_one_and_a_half(cluster, client, ec_container, big):
    use_cluster_secret(cluster)
    account = client.storage_url.rsplit("/", 1)[-1]
    archives = archive_files(cluster, account, ec_container, "big")
    assert sorted(archives) == [0, 1, 2, 3, 4, 5]
    on_disk = sum(os.path.getsize(p) for p in archives.values())
    assert 1.5 <= on_disk / len(big) < 1.55


def container_updates(cluster, method: str, container: str, obj: str) -> int:
    """How many ``method`` updates of ``container/obj`` the container servers logged."""
    needle = f"/{container}/{obj} HTTP"
    count = 0
    for path in glob.glob(os.path.join(cluster.layout.log, "container-server-*.log")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            count += sum(1 for line in handle if f" {method} /" in line and needle in line)
    return count


def test_container_updates_one_per_replica_for_a_put(cluster, client, ec_container):
    # Swift's count (Qc + Ro - Qo): with 6 archives of which k + 1 = 5 must commit,
    # 3 updates (one per container replica) still reach a quorum of 2 replicas whichever
    # 5 commit; a DELETE, decided by a majority (4), needs one more.
    obj = unique("updates")
    assert client.request("PUT", f"/{ec_container}/{obj}", body=b"x" * 5000).status == 201
    assert wait_for(lambda: container_updates(cluster, "PUT", ec_container, obj) >= 3)
    assert client.request("DELETE", f"/{ec_container}/{obj}").status == 204
    assert wait_for(lambda: container_updates(cluster, "DELETE", ec_container, obj) >= 4)
    # every commit (and each node's update) was answered before the client's 201
    assert container_updates(cluster, "PUT", ec_container, obj) == 3
