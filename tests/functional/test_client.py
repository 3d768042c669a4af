"""oiofs.client against the real shared cluster: every operation, resume, re-auth, SLO.

Failures are made for real: the proxy is killed in the middle of a download (the client's
connection is cut by the crash of the server process), a token is one the proxy really
issued for a time now past, a retried request goes to a port where nothing listens.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import socket
import time

import pytest

from oiofs.client import (
    NO_RETRY,
    BadRequest,
    Conflict,
    Connection,
    NotFound,
    ObjectChanged,
    RetryPolicy,
    SegmentUploadError,
    ServerError,
    TransportError,
    Unauthorized,
    generate_temp_url,
    metadata_of,
)
from oiofs.proxy.middleware.tokens import TokenSigner

USER = "test:tester"

FAST_RETRY = RetryPolicy(retries=5, backoff_initial=0.05, backoff_max=0.5)


@pytest.fixture(scope="module")
def conn(cluster):
    with Connection(cluster.auth_url, USER, cluster.users[USER], retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def container(conn):
    name = f"client-{secrets.token_hex(4)}"
    conn.put_container(name)
    yield name
    for entry in list(conn.list_objects(name)):
        conn.delete_object(name, entry["name"])
    try:
        conn.delete_container(name)
    except (NotFound, Conflict):
        pass


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_file(path, size: int, seed: int = 0) -> str:
    """Write ``size`` pseudo-random bytes in 1 MiB pieces; their MD5 (never all in memory)."""
    digest = hashlib.md5()
    block = hashlib.sha256(str(seed).encode()).digest() * (1 << 15)  # 1 MiB
    with open(path, "wb") as f:
        left, n = size, 0
        while left:
            piece = (n.to_bytes(8, "big") + block)[: min(left, len(block))]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
            n += 1
    return digest.hexdigest()


def file_md5(path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- account and containers -------------------------------------------------------------


def test_info(conn):
    info = conn.info()
    assert info["slo"]["max_manifest_segments"] == 1000 and "dlo" in info


def test_account_metadata_and_container_life(conn):
    conn.post_account({"Client-Test": "été"})
    assert metadata_of("account", conn.head_account())["client-test"] == "été"
    conn.post_account(remove=("Client-Test",))
    assert "client-test" not in metadata_of("account", conn.head_account())

    name = f"client-life-{secrets.token_hex(4)}"
    conn.put_container(name, metadata={"Color": "blue"})
    assert conn.head_container(name)["x-container-meta-color"] == "blue"
    conn.post_container(name, metadata={"Shape": "round"}, remove=("Color",))
    meta = metadata_of("container", conn.head_container(name))
    assert meta == {"shape": "round"}
    assert name in [c["name"] for c in conn.list_containers(prefix="client-life-")]
    conn.put_object(name, "o", b"x")
    with pytest.raises(Conflict) as err:
        conn.delete_container(name)
    assert err.value.status == 409 and err.value.trans_id.startswith("tx")
    conn.delete_object(name, "o")
    conn.delete_container(name)
    with pytest.raises(NotFound) as err:
        conn.head_container(name)
    assert err.value.status == 404 and err.value.trans_id


def test_listings_page_by_marker(conn, container):
    names = ["a/1", "a/2", "b/1", "c", "d é"]
    for name in names:
        conn.put_object(container, name, name.encode())
    assert [o["name"] for o in conn.list_objects(container, page_size=2)] == names
    assert [o["name"] for o in conn.list_objects(container, reverse=True,
                                                  page_size=2)] == names[::-1]
    assert [o["name"] for o in conn.list_objects(container, "a/")] == ["a/1", "a/2"]
    top = list(conn.list_objects(container, delimiter="/", page_size=1))
    assert [e.get("subdir", e.get("name")) for e in top] == ["a/", "b/", "c", "d é"]
    assert [o["name"] for o in conn.list_objects(container, limit=3, page_size=2)] == \
        names[:3]
    assert [o["name"] for o in conn.list_objects(container, marker="b/1")] == ["c", "d é"]
    listed = {o["name"]: o for o in conn.list_objects(container)}
    assert listed["c"]["bytes"] == 1 and listed["c"]["hash"] == md5_of(b"c")
    with pytest.raises(NotFound):
        list(conn.list_objects(f"{container}-none"))


# --- objects ----------------------------------------------------------------------------


def test_object_operations(conn, container, tmp_path):
    etag = conn.put_object(container, "dir/é b", b"hello", content_type="text/plain",
                           metadata={"Owner": "zoë"})
    assert etag == md5_of(b"hello")
    head = conn.head_object(container, "dir/é b")
    assert head["content-length"] == "5" and head["content-type"] == "text/plain"
    assert metadata_of("object", head) == {"owner": "zoë"}

    conn.post_object(container, "dir/é b", {"Kind": "greeting"})
    assert metadata_of("object", conn.head_object(container, "dir/é b")) == \
        {"kind": "greeting"}

    with conn.get_object(container, "dir/é b") as dl:
        assert dl.status == 200 and b"".join(dl) == b"hello"
    with conn.get_object(container, "dir/é b", headers={"Range": "bytes=1-3"}) as dl:
        assert dl.status == 206 and b"".join(dl) == b"ell"

    # a file object (streamed from its position) and an iterator (chunked)
    path = tmp_path / "src"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as f:
        f.seek(2)
        assert conn.put_object(container, "file", f) == md5_of(b"23456789")
    parts = [b"ab", b"cd", b"e"]
    assert conn.put_object(container, "iter", iter(parts)) == md5_of(b"abcde")
    out = tmp_path / "out"
    headers = conn.download(container, "iter", str(out))
    assert out.read_bytes() == b"abcde" and headers["etag"] == md5_of(b"abcde")

    assert conn.copy_object(container, "file", container, "copy",
                            metadata={"Copied": "yes"}) == md5_of(b"23456789")
    assert metadata_of("object", conn.head_object(container, "copy")) == {"copied": "yes"}

    conn.delete_object(container, "copy")
    with pytest.raises(NotFound) as err:
        conn.get_object(container, "copy")
    assert err.value.status == 404 and b"Not Found" in err.value.body


def test_bulk_delete_as_parallel_deletes(conn, container):
    names = [f"bulk-{i:02d}" for i in range(20)]
    for name in names:
        conn.put_object(container, name, name.encode())
    outcome = conn.delete_objects(container, names + ["never-there"], threads=6)
    assert outcome == {**dict.fromkeys(names, 204), "never-there": 404}
    assert list(conn.list_objects(container, "bulk-")) == []


def test_temp_url_made_by_the_client_is_served_by_the_cluster(conn, container):
    conn.put_object(container, "shared", b"data")
    anonymous = Connection(storage_url=conn.url, token="none", retry=FAST_RETRY)

    def query(url):
        return dict(p.split("=", 1) for p in url.split("?")[1].split("&"))

    url = generate_temp_url(f"{conn.url}/{container}/shared", "client-key", 60)
    # No key on the container yet: the signature cannot hold.
    with pytest.raises(Unauthorized):
        anonymous.request("GET", container, "shared", query=query(url))
    conn.post_container(container, {"Temp-URL-Key": "client-key"})
    resp = anonymous.request("GET", container, "shared", query=query(url))
    assert resp.read() == b"data"


# --- failures made for real ---------------------------------------------------------------


def test_broken_download_resumes_from_the_same_version(cluster, conn, container, tmp_path):
    size = 48 * 1024 * 1024
    src = tmp_path / "big"
    digest = make_file(src, size)
    assert conn.put_object(container, "big", open(src, "rb")) == digest
    received = hashlib.md5()
    total = 0
    dl = conn.get_object(container, "big", chunk_size=65536)
    chunks = iter(dl)
    first = next(chunks)
    received.update(first)
    total += len(first)
    # The proxy crashes mid-body: what the kernel buffered still arrives, then the
    # connection breaks. It comes back before the client notices.
    cluster.kill_proxy()
    try:
        cluster.start_proxy()
    finally:
        for chunk in chunks:
            received.update(chunk)
            total += len(chunk)
    assert dl.resumes >= 1, "the download did not break: nothing was tested"
    assert total == size and received.hexdigest() == digest


def test_download_refuses_to_resume_onto_another_version(cluster, conn, container):
    payload = os.urandom(1 << 20) * 40
    conn.put_object(container, "changing", payload)
    dl = conn.get_object(container, "changing")
    chunks = iter(dl)
    next(chunks)
    cluster.kill_proxy()
    cluster.start_proxy()
    conn.put_object(container, "changing", b"another version")
    with pytest.raises(ObjectChanged):
        for _ in chunks:
            pass


def test_expired_token_is_renewed_once(cluster, conn):
    # A token the proxy itself would have issued, for a time already past: signed with
    # the cluster's token secret, as tempauth signs (docs/auth.md).
    with open(os.path.join(cluster.oiofs_dir, "token_secret")) as f:
        signer = TokenSigner(f.read().strip())
    expired = signer.make(USER, cluster.users[USER], int(time.time()) - 60)
    fresh = Connection(cluster.auth_url, USER, cluster.users[USER], storage_url=conn.url,
                       token=expired, retry=FAST_RETRY)
    fresh.put_container("client-reauth")
    assert fresh.token != expired and fresh.auth_count == 1
    # The same expired token without credentials: nothing to renew it with.
    stuck = Connection(storage_url=conn.url, token=expired, retry=FAST_RETRY)
    with pytest.raises(Unauthorized) as err:
        stuck.head_container("client-reauth")
    assert err.value.status == 401
    fresh.delete_container("client-reauth")


def test_connection_errors_are_retried_with_backoff_then_raised():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits = []
    dead = Connection(storage_url=f"http://127.0.0.1:{port}/v1/AUTH_x", token="t",
                      retry=RetryPolicy(retries=3, backoff_initial=0.01, jitter=0),
                      sleep=waits.append)
    with pytest.raises(TransportError) as err:
        dead.head_account()
    assert waits == [0.01, 0.02, 0.04]
    assert "HEAD" in str(err.value)
    waits.clear()
    with pytest.raises(TransportError):  # an iterator body cannot be sent twice
        dead.put_object("c", "o", iter([b"x"]))
    assert waits == []


def test_slo_upload_of_60_mb_in_parallel_segments(conn, container, tmp_path):
    size = 60 * 1000 * 1000
    src = tmp_path / "sixty"
    digest = make_file(src, size, seed=7)
    segs = f"{container}-segs"
    etag = conn.upload(container, "sixty", str(src), segment_size=8 * 1024 * 1024,
                       threads=4, segment_container=segs, metadata={"Source": "test"})
    listed = list(conn.list_objects(segs))
    assert len(listed) == 8 and sum(o["bytes"] for o in listed) == size
    assert etag == hashlib.md5("".join(o["hash"] for o in listed).encode()).hexdigest()
    head = conn.head_object(container, "sixty")
    assert head["x-static-large-object"] == "True" and head["content-length"] == str(size)
    assert metadata_of("object", head) == {"source": "test"}
    out = tmp_path / "back"
    conn.download(container, "sixty", str(out))
    assert file_md5(out) == digest
    out.unlink()
    conn.download(container, "sixty", str(out), threads=4, part_size=8 * 1024 * 1024)
    assert file_md5(out) == digest
    conn.delete_object(container, "sixty", segments=True)
    assert list(conn.list_objects(segs)) == []
    conn.delete_container(segs)


def test_small_upload_is_one_put(conn, container):
    data = io.BytesIO(b"x" * 1000)
    assert conn.upload(container, "small", data, segment_size=4096) == md5_of(b"x" * 1000)
    assert "x-static-large-object" not in conn.head_object(container, "small")


def test_parallel_ranged_download_of_a_plain_object(conn, container, tmp_path):
    data = os.urandom(100_000)
    conn.put_object(container, "plain", data)
    out = tmp_path / "plain"
    headers = conn.download(container, "plain", str(out), threads=3, part_size=16384)
    assert out.read_bytes() == data and headers["etag"] == md5_of(data)


def test_failed_segment_leaves_no_manifest(conn, container, tmp_path):
    # Names of 1000 characters fit the cluster's 1024 limit; the segment names add
    # "/slo/<time>/<size>/<segment size>/<index>" and do not: every segment PUT is a 400.
    name = "n" * 1000
    src = tmp_path / "f"
    src.write_bytes(os.urandom(50_000))
    with pytest.raises(SegmentUploadError) as err:
        conn.upload(container, name, str(src), segment_size=10_000, threads=3,
                    segment_container=f"{container}-segs")
    assert isinstance(err.value.__cause__, BadRequest)
    with pytest.raises(NotFound):
        conn.head_object(container, name)
    assert list(conn.list_objects(f"{container}-segs")) == []
    conn.delete_container(f"{container}-segs")


def test_server_errors_are_retried_with_backoff(cluster, conn, container):
    conn.put_object(container, "o", b"kept")
    nodes = [n["node"] for n in cluster.nodes]
    waits = []

    def backoff(delay: float) -> None:
        # The client waits before its first retry: the nodes come back meanwhile (the
        # proxy then probes them again after its short suppression time).
        waits.append(delay)
        if len(waits) == 1:
            for node in nodes:
                cluster.start_node(node)
        time.sleep(delay)

    patient = Connection(storage_url=conn.url, token=conn.token, sleep=backoff,
                         retry=RetryPolicy(retries=10, backoff_initial=0.5, backoff_max=2,
                                           jitter=0))
    impatient = Connection(storage_url=conn.url, token=conn.token, retry=NO_RETRY)
    for node in nodes:
        cluster.stop_node(node)
    try:
        with pytest.raises(ServerError) as err:  # what the patient client meets first
            impatient.head_object(container, "o")
        assert err.value.status == 503
        assert patient.head_object(container, "o")["etag"] == md5_of(b"kept")
    finally:
        for node in nodes:
            cluster.start_node(node)  # no-op for a running node
    assert waits and waits[0] == 0.5  # the 503 was retried after the first backoff
    conn.put_object(container, "after", b"x")  # the cluster serves writes again
