"""The object server's REPLICATE verb and replication writes, through WSGI in-process."""

import json
import os
import time
import zlib

import pytest
from werkzeug.test import Client

from oiofs.common.hashing import hash_path, md5
from oiofs.common.timestamp import Timestamp
from oiofs.obj.hashes import hash_suffix
from oiofs.obj.metadata import read_metadata_path
from oiofs.obj.server import ObjectServer

# recent times: tombstones older than reclaim_age (a week) would be reclaimed
NOW = int(time.time())
T0, T1, T2, T3 = (Timestamp(NOW - 100 + i).internal for i in range(4))


@pytest.fixture
def client(devices):
    return Client(ObjectServer({"devices": devices, "log_requests": "false",
                                    "fsync_in_threads": "false"}))


def hash_dir(devices, obj="o", part="1"):
    name_hash = hash_path("a", "c", obj)
    return os.path.join(devices, "sda", "objects", part, name_hash[-3:], name_hash)


def suffix(obj="o"):
    return hash_path("a", "c", obj)[-3:]


def replicate(client, path="/sda/1", op=None):
    headers = {"X-Backend-Replication-Op": op} if op else {}
    return client.open(path, method="REPLICATE", headers=headers)


def push(client, method, metadata, data=b"", path="/sda/1/a/c/o", meta_length=None):
    raw = json.dumps(metadata).encode()
    return client.open(path, method=method, data=raw + data, headers={
        "X-Backend-Replication": "true",
        "X-Backend-Replication-Meta-Length": str(len(raw) if meta_length is None
                                                 else meta_length)})


def data_meta(body=b"hello", ts=T0, **extra):
    return {"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/x-special",
            "ETag": md5(body).hexdigest(), "Content-Length": str(len(body)),
            "name": "/a/c/o", **extra}


# --- REPLICATE ------------------------------------------------------------------------

def test_replicate_answers_suffix_hashes(client, devices):
    assert replicate(client).json == {}
    client.put("/sda/1/a/c/o", data=b"x", headers={"X-Timestamp": T0,
                                                     "Content-Type": "text/plain"})
    resp = replicate(client)
    assert resp.status_code == 200 and resp.content_type == "application/json"
    expected = hash_suffix(os.path.dirname(hash_dir(devices)))
    assert resp.json == {suffix(): expected}
    # a write after that changes the answer (the invalidation is folded in)
    client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1})
    assert replicate(client).json[suffix()] != expected


def test_replicate_rehashes_listed_suffixes(client, devices):
    client.put("/sda/1/a/c/o", data=b"x", headers={"X-Timestamp": T0,
                                                     "Content-Type": "text/plain"})
    before = replicate(client).json
    os.unlink(os.path.join(hash_dir(devices), os.listdir(hash_dir(devices))[0]))
    assert replicate(client).json == before  # not invalidated: the cached value
    assert replicate(client, f"/sda/1/{suffix()}-fff").json == {}


def test_replicate_refuses_bad_input(client):
    assert replicate(client, "/sda/x").status_code == 400
    assert replicate(client, "/sda/1/abcd").status_code == 400
    assert replicate(client, "/sda/1/ABC").status_code == 400
    assert replicate(client, "/sda/1/../1").status_code == 400
    assert replicate(client, "/sda/1/abc", op="nonsense").status_code == 400
    assert replicate(client, "/sda/1", op="inventory").status_code == 400
    assert replicate(client, "/nodev/1").status_code == 507
    resp = client.open("/sda/1", method="REPLICATE",
                       headers={"X-Backend-Storage-Policy-Index": "9"})
    assert resp.status_code == 503


def test_inventory_lists_chosen_files(client):
    client.put("/sda/1/a/c/o", data=b"x", headers={"X-Timestamp": T0,
                                                     "Content-Type": "text/plain"})
    client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1, "X-Object-Meta-A": "b"})
    client.delete("/sda/1/a/c/gone", headers={"X-Timestamp": T2})
    resp = replicate(client, f"/sda/1/{suffix()}-{suffix('gone')}", op="inventory")
    assert resp.json == {
        hash_path("a", "c", "o"): {"ts": T0, "ext": ".data", "meta": T1},
        hash_path("a", "c", "gone"): {"ts": T2, "ext": ".ts"},
    }


# --- replication writes -------------------------------------------------------------------

def test_pushed_data_keeps_its_metadata_exactly(client, devices):
    meta = data_meta(**{"X-Object-Meta-Colour": "bleu é", "X-Delete-At": "9999999999",
                        "Content-Encoding": "gzip"})
    resp = push(client, "PUT", meta, b"hello")
    assert resp.status_code == 201
    path = os.path.join(hash_dir(devices), T0 + ".data")
    # the receiver adds its own block checksum list after the 5 bytes of data
    assert read_metadata_path(path) == (meta, 5)
    with open(path, "rb") as handle:
        assert handle.read() == b"hello" + zlib.crc32(b"hello").to_bytes(4, "big")
    # served like any object, content type and all
    got = client.get("/sda/1/a/c/o")
    assert got.data == b"hello" and got.headers["Content-Type"] == "text/x-special"
    assert got.headers["X-Object-Meta-Colour"].encode("latin-1").decode() == "bleu é"
    # and the suffix is invalidated like any write
    assert replicate(client).json == {suffix(): hash_suffix(os.path.dirname(hash_dir(devices)))}


def test_pushed_meta_and_tombstone(client, devices):
    assert push(client, "PUT", data_meta(), b"hello").status_code == 201
    meta = {"X-Timestamp": T1, "name": "/a/c/o", "X-Object-Meta-A": "1"}
    assert push(client, "POST", meta).status_code == 201
    assert client.head("/sda/1/a/c/o").headers["X-Object-Meta-A"] == "1"
    assert push(client, "DELETE", {"X-Timestamp": T2, "name": "/a/c/o"}).status_code == 201
    assert sorted(os.listdir(hash_dir(devices))) == [T2 + ".ts"]
    assert client.head("/sda/1/a/c/o").status_code == 404


def test_newest_wins(client, devices):
    assert push(client, "PUT", data_meta(ts=T1), b"hello").status_code == 201
    resp = push(client, "PUT", data_meta(ts=T0), b"hello")
    assert resp.status_code == 409 and resp.headers["X-Backend-Timestamp"] == T1
    assert push(client, "PUT", data_meta(ts=T1), b"hello").status_code == 409
    # a .meta older than the .data is obsolete
    assert push(client, "POST", {"X-Timestamp": T0, "name": "/a/c/o"}).status_code == 409
    assert push(client, "POST", {"X-Timestamp": T2, "name": "/a/c/o"}).status_code == 201
    assert push(client, "POST", {"X-Timestamp": T2, "name": "/a/c/o"}).status_code == 409
    # a newer .data replaces both
    assert push(client, "PUT", data_meta(ts=T3), b"hello").status_code == 201
    assert os.listdir(hash_dir(devices)) == [T3 + ".data"]


def test_no_container_update_for_replication_writes(client, devices):
    # container update headers point at a port nothing listens on: a normal write would
    # leave an async pending; a replication write must not even try
    resp = push(client, "PUT", data_meta(), b"hello")
    assert resp.status_code == 201
    assert not os.path.exists(os.path.join(devices, "sda", "async_pending"))


def test_bad_pushes_store_nothing(client, devices):
    assert push(client, "PUT", data_meta(body=b"longer"), b"hello").status_code == 400
    bad_etag = data_meta()
    bad_etag["ETag"] = md5(b"HELLO").hexdigest()
    assert push(client, "PUT", bad_etag, b"hello").status_code == 422
    wrong_name = data_meta(name="/a/c/other")
    assert push(client, "PUT", wrong_name, b"hello").status_code == 400
    assert push(client, "PUT", {**data_meta(), "X-Timestamp": "yesterday"},
                b"hello").status_code == 400
    assert push(client, "PUT", {**data_meta(), "X-Timestamp": "1700000000"},
                b"hello").status_code == 400  # not the internal form
    assert push(client, "PUT", data_meta(), b"hello", meta_length=0).status_code == 400
    assert push(client, "PUT", data_meta(), b"hello", meta_length=10 ** 9).status_code == 400
    assert push(client, "POST", {"X-Timestamp": T1, "name": "/a/c/o"},
                b"body").status_code == 400
    resp = client.open("/sda/1/a/c/o", method="PUT", data=b"[1, 2]", headers={
        "X-Backend-Replication": "true", "X-Backend-Replication-Meta-Length": "6"})
    assert resp.status_code == 400
    assert not os.path.exists(hash_dir(devices))
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []
