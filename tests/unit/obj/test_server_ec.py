"""Fragment archives on the object server: two-phase PUT, durable names, conditions
against the object's ETag, per-archive verbs (in-process WSGI; docs/erasure-coding.md)."""

import json
import os
import time

import pytest
from werkzeug.test import Client

from oiofs.common.hashing import hash_path, md5
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj import filenames
from oiofs.obj.hashes import reclaim_hash_dir
from oiofs.obj.server import ObjectServer

T0 = "1700000000.00000"
T1 = "1700000001.00000"
PATH = "/sda/1/a/c/o"
OBJ_ETAG = md5(b"the whole object").hexdigest()


@pytest.fixture
def client(devices):
    POLICIES.load({"storage-policy:0": {"name": "gold", "default": "yes"},
                   "storage-policy:1": {"name": "ec42", "policy_type": "erasure_coding",
                                        "ec_num_data_fragments": "4",
                                        "ec_num_parity_fragments": "2"}})
    yield Client(ObjectServer({"devices": devices, "log_requests": "false",
                               "fsync_in_threads": "false"}))
    POLICIES.load({})


def listing(devices):
    name_hash = hash_path("a", "c", "o")
    path = os.path.join(devices, "sda", "objects-1", "1", name_hash[-3:], name_hash)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def put_archive(client, body=b"archive bytes", ts=T0, fi="2", **headers):
    return client.put(PATH, data=body, headers={
        "X-Timestamp": ts, "Content-Type": "text/plain", "X-Backend-Storage-Policy-Index": "1",
        "X-Backend-Ec-Frag-Index": fi, **headers})


def commit(client, ts=T0, fi="2", etag=OBJ_ETAG, length="16"):
    return client.put(PATH, headers={
        "X-Timestamp": ts, "X-Backend-Storage-Policy-Index": "1",
        "X-Backend-Ec-Frag-Index": fi, "X-Backend-Ec-Commit": "yes",
        "X-Object-Sysmeta-Ec-Etag": etag, "X-Object-Sysmeta-Ec-Content-Length": length})


def get(client, method="GET", **headers):
    return client.open(PATH, method=method,
                       headers={"X-Backend-Storage-Policy-Index": "1", **headers})


def test_archive_is_invisible_until_committed(client, devices):
    resp = put_archive(client)
    assert resp.status_code == 201
    assert resp.headers["ETag"] == f'"{md5(b"archive bytes").hexdigest()}"'
    assert listing(devices) == [f"{T0}#2.data"]
    assert get(client).status_code == 404
    resp = commit(client)
    assert resp.status_code == 201 and resp.headers["ETag"] == f'"{OBJ_ETAG}"'
    assert listing(devices) == [f"{T0}#2#d.data"]
    assert commit(client).status_code == 201  # a retried commit changes nothing
    resp = get(client)
    assert resp.status_code == 200 and resp.data == b"archive bytes"
    assert resp.headers["X-Object-Sysmeta-Ec-Etag"] == OBJ_ETAG
    assert resp.headers["X-Object-Sysmeta-Ec-Frag-Index"] == "2"
    assert resp.headers["X-Object-Sysmeta-Ec-Content-Length"] == "16"
    assert resp.headers["X-Backend-Data-Timestamp"] == T0


def test_commit_needs_an_archive_and_footers(client):
    assert commit(client).status_code == 404
    put_archive(client)
    assert commit(client, etag="").status_code == 400
    assert commit(client, length="x").status_code == 400
    assert put_archive(client, fi="6").status_code == 400  # only 0..5 exist
    assert put_archive(client, fi="").status_code == 400


def test_conditions_use_the_object_etag_when_asked(client):
    put_archive(client)
    commit(client)
    at = {"X-Backend-Etag-Is-At": "X-Object-Sysmeta-Ec-Etag"}
    assert get(client, **{"If-Match": OBJ_ETAG}, **at).status_code == 200
    assert get(client, **{"If-None-Match": OBJ_ETAG}, **at).status_code == 304
    assert get(client, **{"If-Match": OBJ_ETAG}).status_code == 412  # the archive's ETag


def test_newer_uncommitted_archive_keeps_the_durable_one_served(client, devices):
    put_archive(client)
    commit(client)
    put_archive(client, body=b"newer", ts=T1)
    assert listing(devices) == [f"{T0}#2#d.data", f"{T1}#2.data"]
    assert get(client).data == b"archive bytes"
    commit(client, ts=T1)
    assert listing(devices) == [f"{T1}#2#d.data"]  # the older archive is obsolete
    assert get(client).data == b"newer"


def test_post_and_delete_work_per_archive(client, devices):
    put_archive(client)
    commit(client)
    resp = client.post(PATH, headers={"X-Timestamp": T1, "X-Backend-Storage-Policy-Index": "1",
                                      "X-Object-Meta-Color": "blue"})
    assert resp.status_code == 202
    assert get(client, method="HEAD").headers["X-Object-Meta-Color"] == "blue"
    resp = client.delete(PATH, headers={"X-Timestamp": "1700000002.00000",
                                        "X-Backend-Storage-Policy-Index": "1"})
    assert resp.status_code == 204
    assert listing(devices) == ["1700000002.00000.ts"]


def test_file_names_and_selection():
    assert filenames.parse_filename(f"{T0}#12#d.data") == (T0, ".data", 12, True)
    assert filenames.parse_filename(f"{T0}.data") == (T0, ".data", None, True)
    for bad in (f"{T0}#x.data", f"{T0}#1#e.data", f"{T0}#1.meta", f"{T0}#.data"):
        assert filenames.parse_filename(bad) is None
    files = filenames.select_files([f"{T0}#1#d.data", f"{T0}#4#d.data", f"{T1}#1.data",
                                    f"{T0}#3.data", "1699999999.00000#1#d.data"])
    assert files.data in (f"{T0}#4#d.data", f"{T0}#1#d.data")
    assert files.frag_index in (1, 4)
    assert sorted(files.others) == sorted(
        [f"{T1}#1.data", ({f"{T0}#1#d.data", f"{T0}#4#d.data"} - {files.data}).pop()])
    assert sorted(files.obsolete) == ["1699999999.00000#1#d.data", f"{T0}#3.data"]
    assert files.data_or_ts_timestamp == T0


def test_old_uncommitted_archives_are_reclaimed(tmp_path):
    for name in (f"{T0}#1.data", f"{T1}#2.data"):
        (tmp_path / name).write_bytes(b"x")
    files = reclaim_hash_dir(str(tmp_path), reclaim_age=10, now=float(T1) + 9.5)
    assert files is not None and files.others == (f"{T1}#2.data",)
    assert sorted(os.listdir(tmp_path)) == [f"{T1}#2.data"]


def push_archive(client, metadata, body=b"archive bytes"):
    """A replication PUT (the reconstructor's push) of an archive with ``metadata``."""
    raw = json.dumps(metadata).encode()
    return client.put(PATH, data=raw + body, headers={
        "X-Backend-Replication": "true", "X-Backend-Storage-Policy-Index": "1",
        "X-Backend-Replication-Meta-Length": str(len(raw)), "X-Timestamp": T0})


def archive_metadata(fi="3", **extra):
    return {"name": "/a/c/o", "X-Timestamp": T0, "Content-Type": "text/plain",
            "ETag": md5(b"archive bytes").hexdigest(), "Content-Length": "13",
            "X-Object-Sysmeta-Ec-Frag-Index": fi, "X-Object-Sysmeta-Ec-Etag": OBJ_ETAG,
            "X-Object-Sysmeta-Ec-Content-Length": "16", **extra}


def test_pushed_archive_is_stored_durable_beside_other_indexes(client, devices):
    put_archive(client)
    commit(client)  # index 2 durable here
    assert push_archive(client, archive_metadata()).status_code == 201
    assert listing(devices) == [f"{T0}#2#d.data", f"{T0}#3#d.data"]
    assert push_archive(client, archive_metadata()).status_code == 409  # held already
    resp = client.open(f"/sda/1/{hash_path('a', 'c', 'o')[-3:]}", method="REPLICATE",
                       headers={"X-Backend-Storage-Policy-Index": "1",
                                "X-Backend-Replication-Op": "inventory"})
    assert json.loads(resp.data)[hash_path("a", "c", "o")]["frags"] == [2, 3]


def test_pushed_archive_needs_its_index_and_footers(client, devices):
    assert push_archive(client, archive_metadata(fi="")).status_code == 400
    assert push_archive(client, archive_metadata(fi="6")).status_code == 400
    bad = archive_metadata()
    del bad["X-Object-Sysmeta-Ec-Etag"]
    assert push_archive(client, bad).status_code == 400
    assert listing(devices) == []


def test_inventory_names_archives_waiting_for_their_commit(client):
    # recent timestamps: an inventory reclaims non-durable archives older than reclaim_age
    now = Timestamp(time.time() - 10).internal
    newer = Timestamp(time.time() - 5).internal
    put_archive(client, ts=now)
    commit(client, ts=now)
    put_archive(client, body=b"newer", ts=newer)
    name_hash = hash_path("a", "c", "o")
    resp = client.open(f"/sda/1/{name_hash[-3:]}", method="REPLICATE",
                       headers={"X-Backend-Storage-Policy-Index": "1",
                                "X-Backend-Replication-Op": "inventory"})
    assert json.loads(resp.data)[name_hash] == {"ts": now, "ext": ".data", "frags": [2],
                                                "pending": {newer: [2]}}


def test_state_only_heads_are_full_heads_for_archives(client):
    """An archive's state depends on its commit (and its ETag on the footers): the
    header asking for the state only is ignored, the archive opened as for any HEAD."""
    put_archive(client)
    assert get(client, "HEAD", **{"X-Backend-State-Only": "true"}).status_code == 404
    commit(client)  # not committed before: not there for reads
    resp = get(client, "HEAD", **{"X-Backend-State-Only": "true"})
    assert resp.status_code == 200 and resp.headers["Content-Length"] == "13"
    assert resp.headers["X-Object-Sysmeta-Ec-Etag"] == OBJ_ETAG
