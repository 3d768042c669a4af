"""Unit tests of ``oiofs-bench``: the pure parts, and the verification against a fake store.

The fake store (:class:`FakeSwift`, an ``http.server`` on 127.0.0.1) exists only to produce
failures a correct cluster never produces: corrupted bodies, wrong ETags, lost listing
entries. The happy path against a real cluster is in ``tests/functional/test_bench.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from oiofs.bench import cpu
from oiofs.bench.client import BenchClient, authenticate
from oiofs.bench.config import BenchConfig, format_size, parse_size
from oiofs.bench.errors import AuthFailed, TargetRefused
from oiofs.bench.payload import Payloads
from oiofs.bench.report import BenchReport, format_table, to_json
from oiofs.bench.stats import PhaseResult, percentile
from oiofs.bench.target import is_loopback_address, parse_endpoint, resolve_loopback
from oiofs.bench.workload import Bench
from oiofs.cli import bench as bench_cli
from oiofs.client import TransportError

# --- percentiles ------------------------------------------------------------------------


def test_percentile_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 50) == 7.0
    assert percentile([1, 2], 50) == 1
    assert percentile([1, 2], 99) == 2
    assert percentile([], 50) is None


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1], 0)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_phase_result_rates_and_latencies():
    result = PhaseResult(name="GET", ops=4, elapsed=2.0, nbytes=8_000_000, cpu_seconds=0.02,
                         latencies=[0.004, 0.001, 0.003, 0.002])
    assert result.rate == 2.0
    assert result.mb_per_s == 4.0
    assert result.latency_ms(50) == pytest.approx(2.0)
    assert result.latency_ms(99) == pytest.approx(4.0)
    assert result.cpu_ms_per_op == pytest.approx(5.0)
    empty = PhaseResult(name="PUT")
    assert empty.rate is None and empty.mb_per_s is None and empty.cpu_ms_per_op is None


# --- loopback guard -----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.5.6.7", "::1"])
def test_loopback_addresses_accepted(address):
    assert is_loopback_address(address)
    assert resolve_loopback(address, 80) == address


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "::ffff:10.0.0.1",
                                     "0.0.0.0", "not-an-ip"])
def test_other_addresses_are_not_loopback(address):
    assert not is_loopback_address(address)


def test_localhost_name_accepted():
    endpoint = parse_endpoint("http://localhost:8080/auth/v1.0")
    assert is_loopback_address(endpoint.address)
    assert endpoint.port == 8080 and endpoint.path == "/auth/v1.0"


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080/auth/v1.0", "http://8.8.8.8/v1/AUTH_a",
                                 "https://127.0.0.1/auth/v1.0", "ftp://127.0.0.1/x",
                                 "http:///auth/v1.0", "http://127.0.0.1:99999/x",
                                 "http://no-such-host.invalid/auth/v1.0"])
def test_non_loopback_or_bad_urls_refused(url):
    with pytest.raises(TargetRefused):
        parse_endpoint(url)


def test_cli_refuses_remote_target_before_any_request(capsys):
    code = bench_cli.main(["--auth", "http://10.0.0.1:8080/auth/v1.0", "--user", "a:b",
                           "--key", "k", "--quiet"])
    assert code == 2
    assert "non-loopback" in capsys.readouterr().err


def test_storage_url_is_checked_too():
    # A loopback auth service must not be able to send the load elsewhere.
    with FakeSwift(storage_host="10.0.0.1") as fake, pytest.raises(TargetRefused):
        authenticate(fake.auth_url, "test:tester", "testing")


# --- sizes, payloads, reports -------------------------------------------------------------------


def test_parse_and_format_size():
    assert parse_size("4096") == 4096
    assert parse_size("4KiB") == parse_size("4k") == 4096
    assert parse_size("64MiB") == 64 * 1024 * 1024
    assert parse_size("1MB") == 1_000_000
    assert parse_size("1.5K") == 1536
    for bad in ("", "4XB", "-1", "K"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_size(4096) == "4 KiB"
    assert format_size(64 * 1024 * 1024) == "64 MiB"
    assert format_size(300) == "300 B"


def test_small_payloads_differ_by_tag_and_have_the_size():
    payloads = Payloads()
    one, two = payloads.small("run/obj-1/", 4096), payloads.small("run/obj-2/", 4096)
    assert len(one) == len(two) == 4096 and one != two
    assert payloads.small("tag", 0) == b""
    assert payloads.small("long-tag", 3) == b"lon"


def test_large_payload_streams_its_size_and_md5_and_can_restart():
    payloads = Payloads(block_size=1000)  # small block: the body wraps around it
    body = payloads.large("run/large-0/", 5555)
    data = b"".join(bytes(chunk) for chunk in body.chunks())
    assert len(data) == 5555
    assert body.md5 == hashlib.md5(data).hexdigest()
    assert data.startswith(b"run/large-0/")
    again = b"".join(bytes(chunk) for chunk in body.chunks())
    assert again == data and body.md5 == hashlib.md5(data).hexdigest()


def _report() -> BenchReport:
    config = BenchConfig(auth_url="http://127.0.0.1:1/auth/v1.0", user="u", key="secret")
    report = BenchReport(storage_url="http://127.0.0.1:1/v1/AUTH_u", config=config,
                         cpu_measured=True)
    report.phases.append(PhaseResult(name="PUT", label="PUT 4 KiB", ops=100, elapsed=2.0,
                                     cpu_seconds=0.5, latencies=[0.01] * 98 + [0.2] * 2))
    report.phases.append(PhaseResult(name="GET", label="GET 64 MiB", ops=2, elapsed=1.0,
                                     nbytes=134_217_728, latencies=[0.5, 0.6], errors=1,
                                     messages=["GET large-0001: status 503"]))
    return report


def test_table_has_a_row_per_phase_and_the_verdict():
    table = format_table(_report())
    lines = table.splitlines()
    put = next(line for line in lines if line.startswith("PUT 4 KiB"))
    assert put.split()[3:] == ["100", "0", "0", "2.00", "50.0", "-", "10.00", "200.00",
                               "5.00"]
    get = next(line for line in lines if line.startswith("GET 64 MiB"))
    assert "134.2" in get.split()
    assert "  ! GET large-0001: status 503" in lines
    assert lines[-1] == "FAILED: 1 request errors, 0 verification failures"


def test_json_document_hides_the_key_and_counts_problems():
    doc = json.loads(json.dumps(to_json(_report())))
    assert "key" not in doc["config"]
    assert doc["errors"] == 1 and doc["failures"] == 0 and doc["ok"] is False
    put = doc["phases"][0]
    assert put["req_per_s"] == 50.0 and put["p99_ms"] == 200.0 and put["cpu_ms_per_op"] == 5.0


def test_config_validation():
    good = BenchConfig(auth_url="x", user="u", key="k")
    good.validate()
    for change in ({"concurrency": 0}, {"objects": None, "duration": None}, {"objects": 0},
                   {"duration": -1.0}, {"size": 2 * 1024 * 1024}, {"large_count": 0},
                   {"list_page": 0}):
        bad = BenchConfig(auth_url="x", user="u", key="k", **change)
        with pytest.raises(ValueError):
            bad.validate()


# --- CPU from /proc ---------------------------------------------------------------------------


CHILD = """
import os, sys, time
print(os.getpid(), flush=True)
sys.stdin.readline()                      # go
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("done", flush=True)
sys.stdin.readline()                      # exit
"""


def test_cpu_meter_counts_a_busy_grandchild(tmp_path):
    # Real processes: a parent (the "server" named in the pid file) whose child burns 0.3 s
    # of CPU when told to. The meter must find the child through the process tree.
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; "
         f"subprocess.run([sys.executable, '-c', {CHILD!r}])"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        pid_file = tmp_path / "pids"
        pid_file.write_text(f"# servers\nproxy {parent.pid} 8080\n")
        assert cpu.read_pid_files([str(pid_file)]) == [parent.pid]
        assert child_pid in cpu.descendants([parent.pid])
        meter = cpu.CpuMeter([parent.pid])
        before = meter.sample()
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == "done\n"
        spent = meter.sample() - before
        assert 0.25 <= spent < 1.0
    finally:
        parent.communicate("\n")


def test_pids_matching_leaves_out_the_benchmark_itself():
    marker = f"oiofs-bench-test-marker-{os.getpid()}"
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()", marker],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        # Popen returns while exec may still be filling in /proc/<pid>/cmdline: wait until
        # the program runs.
        assert sleeper.stdout.readline() == b"up\n"
        assert cpu.pids_matching(marker) == [sleeper.pid]
        # This process and its ancestors are never servers, whatever their command line.
        parent = cpu.read_stat(os.getpid())[0]
        matched = cpu.pids_matching(".")
        assert sleeper.pid in matched
        assert os.getpid() not in matched and parent not in matched
    finally:
        sleeper.communicate(b"")


# --- verification, against a fake store that can lie ---------------------------------------


class FakeSwift:
    """A minimal in-memory Swift v1 endpoint with tempauth v1, HTTP/1.1 keep-alive.

    ``corrupt_gets`` flips a byte in every object GET body; ``bad_etag`` answers PUTs with a
    wrong ETag; ``hide_in_listing`` leaves names out of container listings.
    """

    def __init__(self, storage_host: str = "127.0.0.1"):
        self.storage_host = storage_host
        self.containers: dict[str, dict[str, bytes]] = {}
        self.corrupt_gets = False
        self.bad_etag = False
        self.hide_in_listing = 0
        self.drop_after_answer = False
        self.interrupt_after_puts: int | None = None
        self.interrupt = (os.getpid(), signal.SIGINT)  # whom to signal, and how
        self.object_puts = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/auth/v1.0"

    def __enter__(self) -> FakeSwift:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None, head=False):
                # Decided before answering: the test flips the flag once it has the answer.
                if fake.drop_after_answer:
                    self.close_connection = True
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _route(self):
                parts = urlsplit(self.path)
                bits = [unquote(b) for b in parts.path.split("/")[3:]]  # /v1/AUTH_test/...
                return bits[0], "/".join(bits[1:]) or None, parse_qs(parts.query)

            def do_GET(self):
                if self.path.startswith("/auth/"):
                    port = fake.server.server_port
                    return self._send(200, headers={
                        "X-Storage-Url": f"http://{fake.storage_host}:{port}/v1/AUTH_test",
                        "X-Auth-Token": "tok"})
                container, obj, query = self._route()
                with fake.lock:
                    objects = fake.containers.get(container)
                if objects is None:
                    return self._send(404)
                if obj is None:
                    names = sorted(objects)[fake.hide_in_listing:]
                    marker = query.get("marker", [""])[0]
                    limit = int(query.get("limit", ["10000"])[0])
                    page = [{"name": n} for n in names if n > marker][:limit]
                    return self._send(200, json.dumps(page).encode())
                if obj not in objects:
                    return self._send(404)
                body = objects[obj]
                etag = hashlib.md5(body).hexdigest()
                if fake.corrupt_gets and body:
                    body = bytes([body[0] ^ 1]) + body[1:]
                self._send(200, body, {"ETag": etag}, head=self.command == "HEAD")

            do_HEAD = do_GET

            def do_PUT(self):
                container, obj, _ = self._route()
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with fake.lock:
                    if obj is None:
                        fake.containers.setdefault(container, {})
                        return self._send(201)
                    fake.containers[container][obj] = body
                    fake.object_puts += 1
                    if fake.object_puts == fake.interrupt_after_puts:
                        os.kill(*fake.interrupt)  # Ctrl-C (or a kill), for real
                etag = "0" * 32 if fake.bad_etag else hashlib.md5(body).hexdigest()
                self._send(201, headers={"ETag": etag})

            def do_DELETE(self):
                container, obj, _ = self._route()
                with fake.lock:
                    objects = fake.containers.get(container)
                    if objects is None or (obj is not None and obj not in objects):
                        return self._send(404)
                    if obj is None:
                        if objects:
                            return self._send(409)
                        del fake.containers[container]
                    else:
                        del objects[obj]
                self._send(204)

        return Handler


def _small_config(fake: FakeSwift, **changes) -> BenchConfig:
    settings = dict(auth_url=fake.auth_url, user="test:tester", key="testing", concurrency=3,
                    size=1000, objects=12, large_size=300_000, large_count=2,
                    list_objects=25, list_page=10)
    settings.update(changes)
    return BenchConfig(**settings)


def _quiet(message):
    pass


def test_bench_against_an_honest_fake_verifies_and_cleans_up():
    with FakeSwift() as fake:
        report = Bench(_small_config(fake), progress=_quiet).run()
        assert report.ok, format_table(report)
        by_label = {p.label: p for p in report.phases}
        assert by_label["GET 1000 B"].ops == 12
        assert by_label["GET 300000 B"].nbytes == 600_000
        listing = by_label["LIST 25 objects"]
        assert listing.ops == 1 and listing.extra["pages"] == 4  # 10 + 10 + 5 + empty
        assert fake.containers == {}  # every container and object it made is gone


@pytest.mark.parametrize("lie, phase", [("corrupt_gets", "GET"), ("bad_etag", "PUT")])
def test_bench_counts_wrong_answers(lie, phase):
    with FakeSwift() as fake:
        setattr(fake, lie, True)
        report = Bench(_small_config(fake, skip_list=True), progress=_quiet).run()
        failed = {p.label: p.failures for p in report.phases if p.failures}
        assert failed == {f"{phase} 1000 B": 12, f"{phase} 300000 B": 2}
        assert not report.ok and fake.containers == {}


def test_bench_detects_a_listing_that_never_settles(monkeypatch):
    monkeypatch.setattr("oiofs.bench.workload.SETTLE_SECONDS", 0.3)
    with FakeSwift() as fake:
        fake.hide_in_listing = 1
        config = _small_config(fake, skip_small=True, skip_large=True)
        report = Bench(config, progress=_quiet).run()
        listing = report.phases[-1]
        assert listing.failures == 1 and "1 missing" in listing.messages[0]


def test_cli_exit_status_and_json(capsys):
    with FakeSwift() as fake:
        argv = ["--auth", fake.auth_url, "--user", "test:tester", "--key", "testing",
                "--objects", "5", "--concurrency", "2", "--size", "100",
                "--large-size", "1KiB", "--large-count", "1", "--list-objects", "7",
                "--json", "--quiet"]
        assert bench_cli.main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["ok"] and [p["name"] for p in doc["phases"]] == [
            "PUT", "GET", "HEAD", "DELETE", "PUT", "GET", "FILL", "LIST"]
        fake.corrupt_gets = True
        assert bench_cli.main(argv[:-2] + ["--skip-large", "--skip-list", "--quiet"]) == 1
        assert "5 verification failures" in capsys.readouterr().err


def test_auth_failure_is_reported():
    with FakeSwift() as fake:
        bad_url = fake.auth_url.replace("/auth/v1.0", "/v1/AUTH_nobody/x")
        with pytest.raises(AuthFailed):
            authenticate(bad_url, "test:tester", "wrong")


def test_connection_resends_once_when_an_idle_keepalive_was_closed():
    with FakeSwift() as fake:
        _storage, shared = authenticate(fake.auth_url, "test:tester", "testing")
        conn = BenchClient(shared)
        # The server drops the connection after answering, silently, as a server's idle
        # keep-alive timeout does: the next request finds a dead socket (the pool sees it
        # closed, or the request is sent again on a fresh connection).
        fake.drop_after_answer = True
        assert conn.request("PUT", "c").status == 201
        fake.drop_after_answer = False
        reply = conn.request("GET", "c", query={"format": "json"})
        assert reply.status == 200 and reply.body == b"[]"
        assert conn.stale_retries == 1
        # A fresh connection that fails is not resent: the failure surfaces.
        fake.server.shutdown()
        fake.server.server_close()
        conn.close()
        with pytest.raises(TransportError):
            conn.request("GET", "c")
        assert conn.stale_retries == 1


def test_interrupted_run_stops_its_workers_and_still_cleans_up():
    with FakeSwift() as fake:
        fake.interrupt_after_puts = 5
        bench = Bench(_small_config(fake, objects=20_000), progress=_quiet)
        with pytest.raises(KeyboardInterrupt):
            bench.run()
        assert not [t for t in threading.enumerate() if t.name.startswith("bench-")]
        assert 5 <= fake.object_puts < 20_000  # stopped well before the end
        assert fake.containers == {}, (bench.report.cleanup, bench.report.phases)


def test_cli_reports_an_interruption(capsys):
    with FakeSwift() as fake:
        fake.interrupt_after_puts = 3
        argv = ["--auth", fake.auth_url, "--user", "test:tester", "--key", "testing",
                "--objects", "20000", "--concurrency", "2", "--quiet"]
        assert bench_cli.main(argv) == 130
        assert "interrupted; cleanup deleted" in capsys.readouterr().err
        assert fake.containers == {}


def test_sigterm_cleans_up_like_ctrl_c():
    with FakeSwift() as fake:
        bench = subprocess.Popen(
            [sys.executable, "-m", "oiofs.cli.bench", "--auth", fake.auth_url, "--user",
             "test:tester", "--key", "testing", "--objects", "20000", "--concurrency", "2",
             "--quiet"], stderr=subprocess.PIPE, text=True)
        fake.interrupt, fake.interrupt_after_puts = (bench.pid, signal.SIGTERM), 5
        try:
            _, err = bench.communicate(timeout=60)
        finally:
            bench.kill()
        assert bench.returncode == 130, err
        assert "interrupted; cleanup deleted" in err
        assert fake.containers == {}


def test_machine_cpu_counts_this_process_spinning():
    """The machine's busy seconds grow at least by what this process burns on a core."""
    busy_before, idle_before = cpu.machine_cpu()
    start = time.process_time()
    while time.process_time() - start < 0.3:
        pass
    busy_after, idle_after = cpu.machine_cpu()
    assert busy_after - busy_before >= 0.25
    assert idle_after >= idle_before
