"""``oiofs-bench`` run for real, briefly, against the all-in-one cluster."""

from __future__ import annotations

import glob
import http.client
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

BENCH = [sys.executable, "-m", "oiofs.cli.bench"]


def account_containers(cluster) -> list[str]:
    """The names of the containers of test:tester's account, as the proxy lists them."""
    storage_url, token = cluster.auth("test:tester")
    url = urlsplit(storage_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", f"{url.path}?format=json", headers={"X-Auth-Token": token})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status in (200, 204), resp.status
    return [entry["name"] for entry in json.loads(body or b"[]")]


def test_bench_reports_sane_numbers_and_cleans_up(cluster):
    pid_files = sorted(glob.glob(os.path.join(cluster.layout.run, "*.pid")))
    assert pid_files, "the cluster records its processes in run/*.pid"
    argv = BENCH + ["--auth", cluster.auth_url, "--user", "test:tester",
                    "--key", cluster.users["test:tester"], "--concurrency", "4",
                    "--objects", "50", "--duration", "3", "--large-size", "4MiB",
                    "--large-count", "1", "--list-objects", "300", "--list-page", "100",
                    "--cpu-pids", *pid_files, "--json", "--quiet"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    report = json.loads(result.stdout)
    assert report["ok"] and report["errors"] == 0 and report["failures"] == 0
    phases = {(p["name"], p["label"]): p for p in report["phases"]}
    names = [p["name"] for p in report["phases"]]
    assert names == ["PUT", "GET", "HEAD", "DELETE", "PUT", "GET", "FILL", "LIST"]

    for (_name, label), phase in phases.items():
        assert phase["ops"] > 0, label
        assert phase["elapsed_s"] > 0 and phase["req_per_s"] > 0, label
        assert 0 < phase["p50_ms"] <= phase["p99_ms"], label
        # /proc counts CPU in clock ticks (10 ms): a phase of a few requests may show 0.
        assert phase["cpu_ms_per_op"] is not None and phase["cpu_ms_per_op"] >= 0, label
    assert sum(p["cpu_ms_per_op"] * p["ops"] for p in phases.values()) > 100  # > 100 ms
    small_put = phases[("PUT", "PUT 4 KiB")]
    # Bounded by count and by time: 50 objects, or fewer if 3 s ran out first.
    assert small_put["ops"] <= 50 and small_put["elapsed_s"] < 3 + 30
    assert phases[("GET", "GET 4 KiB")]["ops"] == small_put["ops"]
    large_get = phases[("GET", "GET 4 MiB")]
    assert large_get["bytes"] == 4 * 1024 * 1024 and large_get["mb_per_s"] > 0
    listing = phases[("LIST", "LIST 300 objects")]
    assert listing["listed"] == 300 and listing["pages"] == 4  # 3 full pages + empty one

    assert report["cleanup"]["containers"] == 3 and report["cleanup"]["errors"] == 0
    assert not [c for c in account_containers(cluster) if c.startswith("oiofs-bench-")]
    assert "OK: 0 request errors, 0 verification failures" in result.stderr


def test_bench_fails_on_bad_credentials(cluster):
    argv = BENCH + ["--auth", cluster.auth_url, "--user", "test:tester", "--key", "wrong",
                    "--objects", "1", "--quiet"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "auth for test:tester answered 401" in result.stderr
