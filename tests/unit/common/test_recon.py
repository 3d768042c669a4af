"""The recon cache (merged, atomic, shared by daemons) and the ``/recon`` filter, over WSGI
with real files: devices, quarantine directories, ring files and cache files."""

import json
import os
import threading

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from oiofs.common.daemon import Daemon
from oiofs.common.recon import ReconMiddleware, ring_md5s
from oiofs.common.recon_cache import dump_recon_cache, load_recon_cache, recon_cache_file


def test_dump_merges_nested_keys_and_removes_with_empty_dict(tmp_path):
    cache = str(tmp_path / "object.recon")
    dump_recon_cache(cache, {"a": 1, "stats": {"x": 1, "y": {"z": 2}}})
    dump_recon_cache(cache, {"b": 2, "stats": {"y": {"w": 3}, "x": {}}})
    assert load_recon_cache(cache) == {"a": 1, "b": 2, "stats": {"y": {"z": 2, "w": 3}}}
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [
        "object.recon"], "no temporary file is left behind"


def test_concurrent_writers_lose_no_key(tmp_path):
    cache = str(tmp_path / "object.recon")

    def writer(n):
        for i in range(8):
            dump_recon_cache(cache, {f"w{n}": i, "shared": {f"w{n}": i}})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = load_recon_cache(cache)
    assert {k: data[k] for k in ("w0", "w1", "w2", "w3")} == dict.fromkeys(
        ("w0", "w1", "w2", "w3"), 7)
    assert data["shared"] == dict.fromkeys(("w0", "w1", "w2", "w3"), 7)


def test_unreadable_cache_reads_as_empty(tmp_path):
    bad = tmp_path / "object.recon"
    bad.write_text("[1, 2")
    assert load_recon_cache(str(bad)) == {}
    assert load_recon_cache(str(tmp_path / "missing.recon")) == {}


class _CountingDaemon(Daemon):
    name = "container-updater"

    def run_once(self, **kwargs):
        return 7

    def recon_entries(self, result, began, ended):
        return {"container_updater_sweep": ended - began, "seen": result}


def test_run_pass_leaves_the_pass_in_the_cache_of_its_server_type(tmp_path):
    conf = {"recon_cache_path": str(tmp_path)}
    assert _CountingDaemon(conf).run_pass() == 7
    data = load_recon_cache(recon_cache_file(conf, "container"))
    assert data["seen"] == 7 and data["container_updater_sweep"] >= 0


def test_run_pass_survives_an_unwritable_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    conf = {"recon_cache_path": str(blocker / "sub")}  # a directory under a file
    assert _CountingDaemon(conf).run_pass() == 7


@pytest.fixture
def node(tmp_path):
    """A node's devices (two, one with quarantined items), rings and recon cache."""
    devices = tmp_path / "devices"
    for device, quarantined in (("d1", {"objects": 2, "objects-1": 1, "containers": 1}),
                                ("d2", {"accounts": 3})):
        for kind, count in quarantined.items():
            for i in range(count):
                (devices / device / "quarantined" / kind / f"h{i}").mkdir(parents=True)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "object.ring.gz").write_bytes(b"ring bytes")
    (etc / "oiofs.conf").write_text("[hash]\nhash_path_suffix = x\n")
    cache = tmp_path / "cache"
    conf = {"devices": str(devices), "oiofs_dir": str(etc), "recon_cache_path": str(cache),
            "mount_check": "false"}

    def server(environ, start_response):
        return Response(b"the server")(environ, start_response)

    return Client(ReconMiddleware(server, conf)), conf


def _get(client, path):
    resp = client.get(path)
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "application/json"
    return json.loads(resp.data)


def test_facts_of_the_node(node):
    client, conf = node
    assert _get(client, "/recon/quarantined") == {
        "objects": 3, "containers": 1, "accounts": 3,
        "policies": {"0": {"objects": 2}, "1": {"objects": 1}}}
    usage = _get(client, "/recon/diskusage")
    assert [d["device"] for d in usage] == ["d1", "d2"]
    assert all(d["mounted"] and 0 <= d["used"] <= d["size"] and d["avail"] > 0
               for d in usage)
    assert _get(client, "/recon/unmounted") == []
    assert _get(client, "/recon/devices") == {conf["devices"]: ["d1", "d2"]}
    ring = os.path.join(conf["oiofs_dir"], "object.ring.gz")
    assert _get(client, "/recon/ringmd5") == ring_md5s(conf["oiofs_dir"])
    assert list(_get(client, "/recon/ringmd5")) == [ring]
    assert list(_get(client, "/recon/swiftconfmd5")) == [
        os.path.join(conf["oiofs_dir"], "oiofs.conf")]
    load = _get(client, "/recon/load")
    assert set(load) == {"1m", "5m", "15m", "tasks", "processes"}
    assert "MemTotal" in _get(client, "/recon/mem")
    assert "version" in _get(client, "/recon/version")
    assert isinstance(_get(client, "/recon/time"), float)
    assert "tcp_in_use" in _get(client, "/recon/sockstat")


def test_with_mount_check_plain_directories_are_unmounted(node, tmp_path):
    _, conf = node
    client = Client(ReconMiddleware(lambda e, s: [], {**conf, "mount_check": "true"}))
    assert _get(client, "/recon/unmounted") == [{"device": "d1", "mounted": False},
                                                {"device": "d2", "mounted": False}]
    assert [d["mounted"] for d in _get(client, "/recon/diskusage")] == [False, False]


def test_daemon_stats_come_from_the_cache(node):
    client, conf = node
    assert _get(client, "/recon/replication/object")["replication_stats"] is None
    dump_recon_cache(recon_cache_file(conf, "object"), {
        "replication_time": 0.5, "replication_stats": {"attempted": 4}, "x": 1,
        "object_updater_sweep": 2.0, "async_pending": 3, "expired_last_pass": 9})
    dump_recon_cache(recon_cache_file(conf, "container"), {"container_audits_passed": 5})
    assert _get(client, "/recon/replication/object")["replication_stats"] == {"attempted": 4}
    assert _get(client, "/recon/replication")["replication_time"] == 0.5  # object
    assert _get(client, "/recon/async") == {"async_pending": 3, "async_pending_last": None}
    assert _get(client, "/recon/updater/object") == {"object_updater_sweep": 2.0}
    assert _get(client, "/recon/expirer/object")["expired_last_pass"] == 9
    assert _get(client, "/recon/auditor/container")["container_audits_passed"] == 5
    assert _get(client, "/recon/replication/account")["replication_last"] is None
    dump_recon_cache(recon_cache_file(conf, "object"), {"object_reconstruction_last": 7.0})
    assert _get(client, "/recon/reconstruction") == {
        "object_reconstruction_time": None, "object_reconstruction_stats": None,
        "object_reconstruction_last": 7.0}


@pytest.mark.parametrize("path", ["/recon/", "/recon/nothing", "/recon/updater/account",
                                  "/recon/auditor", "/recon/replication/bogus",
                                  "/recon/load/x/y"])
def test_unknown_paths_are_404(node, path):
    client, _ = node
    resp = client.get(path)
    assert resp.status_code == 404 and b"Invalid path" in resp.data


def test_other_verbs_are_405_and_other_paths_reach_the_server(node):
    client, _ = node
    resp = client.put("/recon/load")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    assert client.head("/recon/load").status_code == 200
    assert client.get("/d1/0/a/c/o").data == b"the server"
    assert client.get("/reconnaissance").data == b"the server"
