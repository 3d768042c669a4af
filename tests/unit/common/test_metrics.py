"""Metrics: statsd packets on a real UDP socket, and the Prometheus page of several
processes sharing a directory, read back with the Prometheus client's own parser."""

import socket
import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from oiofs.common.metrics import Metrics, get_metrics, metric_method


def udp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def received(sock) -> list[str]:
    """Every statsd line of the packets that arrived (waits for the first one)."""
    lines = []
    data = sock.recv(65536)
    while True:
        lines.extend(data.decode().splitlines())
        sock.settimeout(0.2)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return lines


def test_statsd_packets_have_swift_names():
    sock = udp_listener()
    try:
        conf = {"log_statsd_host": "127.0.0.1", "log_statsd_port": str(sock.getsockname()[1]),
                "log_statsd_metric_prefix": "node7"}
        proxy = get_metrics(conf, "proxy-server-statsd-test")
        proxy.request("object", "GET", 200, 0.25, 0, 4096, 1)
        proxy.increment("object.handoff_count")
        lines = received(sock)
    finally:
        sock.close()
    prefix = "node7.proxy-server-statsd-test."
    assert f"{prefix}object.GET.200.timing:250.000000|ms" in lines
    assert f"{prefix}object.GET.200.xfer:4096|c" in lines
    assert f"{prefix}object.policy.1.GET.200.timing:250.000000|ms" in lines
    assert f"{prefix}object.handoff_count:1|c" in lines


def test_storage_server_timings_split_errors_as_swift():
    sock = udp_listener()
    try:
        from statsd import StatsClient
        client = StatsClient("127.0.0.1", sock.getsockname()[1], prefix="object-server")
        metrics = Metrics("object-server", client)
        metrics.request("object", "PUT", 201, 0.01, 10, 0)
        metrics.request("object", "GET", 503, 0.02, 0, 0)
        metrics.request("object", "FOO", 404, 0.03, 0, 0)
        metrics.timing("pass.timing", 1.5)
        lines = received(sock)
    finally:
        sock.close()
    assert "object-server.PUT.timing:10.000000|ms" in lines
    assert "object-server.GET.errors.timing:20.000000|ms" in lines
    assert "object-server.BAD_METHOD.timing:30.000000|ms" in lines
    assert "object-server.pass.timing:1500.000000|ms" in lines


def test_nothing_enabled_costs_nothing():
    metrics = get_metrics({}, "quiet-component")
    assert not metrics.enabled and metrics.render() == b""
    metrics.request("object", "GET", 200, 0.1, 0, 0)
    metrics.increment("x")
    assert get_metrics({"log_statsd_host": "127.0.0.1"}, "quiet-component") is metrics


def test_metric_method():
    assert metric_method("GET") == "GET" and metric_method("get") == "BAD_METHOD"


# Prometheus's multiprocess mode is chosen per process: each side runs in its own
# interpreter, as a server's workers and daemons do.
WRITER = textwrap.dedent("""
    import os, sys
    from oiofs.common.metrics import get_metrics
    conf = {"prometheus_enabled": "true", "prometheus_multiproc_dir": sys.argv[1]}
    metrics = get_metrics(conf, sys.argv[2])
    for seconds in (0.001, 0.02, 3.0):
        metrics.request("object", "GET", 200, seconds, 0, 100, 0)
    metrics.request("object", "PUT", 201, 0.3, 50, 0, 0)
    metrics.increment("object.handoff_count", 2)
    metrics.timing("pass.timing", 0.5)
    if len(sys.argv) > 3:
        sys.stdout.write(metrics.render().decode())
    else:
        metrics.flush()
""")


def run_writer(directory, server, render=False):
    argv = [sys.executable, "-c", WRITER, str(directory), server] + (["render"] if render else [])
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def samples_of(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_prometheus_page_sums_the_processes_sharing_a_directory(tmp_path):
    run_writer(tmp_path, "object-server")       # a worker that has exited
    run_writer(tmp_path, "object-replicator")   # a daemon of the same node
    page = run_writer(tmp_path, "object-server", render=True)  # the worker scraped
    samples = samples_of(page)

    def get(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    gets = dict(server="object-server", type="object", method="GET")
    assert get("oiofs_requests_total", status="200", policy="0", **gets) == 6
    assert get("oiofs_request_duration_seconds_count", **gets) == 6
    assert get("oiofs_request_duration_seconds_bucket", le="0.005", **gets) == 2
    assert get("oiofs_request_duration_seconds_bucket", le="0.025", **gets) == 4
    assert get("oiofs_request_duration_seconds_bucket", le="2.5", **gets) == 4
    assert get("oiofs_request_duration_seconds_bucket", le="+Inf", **gets) == 6
    assert abs(get("oiofs_request_duration_seconds_sum", **gets) - 2 * 3.021) < 1e-9
    assert get("oiofs_request_bytes_total", server="object-server", type="object",
               direction="out") == 600
    assert get("oiofs_events_total", server="object-replicator",
               event="object.handoff_count") == 2
    assert get("oiofs_timing_seconds_count", server="object-replicator",
               event="pass.timing") == 1


def test_daemon_passes_are_reported(tmp_path):
    from dataclasses import dataclass

    from statsd import StatsClient

    from oiofs.common.daemon import Daemon, PassStats

    @dataclass
    class CountStats(PassStats):
        checked: int = 0
        failures: int = 0

    class Counting(Daemon):
        name = "counting-daemon"

        def run_once(self, **kwargs):
            return CountStats(checked=7, failures=1)

    @dataclass
    class SweepStats:  # a daemon that keeps its own stats class and last_stats
        start: float
        files: int = 0
        end: float | None = None

    class Sweeping(Daemon):
        name = "sweeping-daemon"

        def run_once(self, **kwargs):
            self.last_stats = [SweepStats(10.0, 3, 12.5), SweepStats(12.5, 4, 13.0)]

    sock = udp_listener()
    try:
        client = StatsClient("127.0.0.1", sock.getsockname()[1])
        for klass in (Counting, Sweeping):
            daemon = klass({"interval": "1"})
            daemon.metrics = Metrics(klass.name, client)
            daemon.report_pass(daemon.run_once())
        lines = received(sock)
    finally:
        sock.close()
    assert "passes:1|c" in lines and "checked:7|c" in lines and "failures:1|c" in lines
    assert any(line.startswith("pass.timing:") for line in lines)
    assert "files:3|c" in lines and "files:4|c" in lines
    assert "pass.timing:2500.000000|ms" in lines and "pass.timing:500.000000|ms" in lines


# Two components with two directories in one process (a daemon group), then a fork (a
# server's worker): each component's figures stay in its own directory.
TWO_DIRS = textwrap.dedent("""
    import os, sys
    from oiofs.common.metrics import get_metrics
    first, second = (get_metrics({"prometheus_enabled": "true",
                                  "prometheus_multiproc_dir": path}, name)
                     for path, name in ((sys.argv[1], "object-replicator"),
                                        (sys.argv[2], "container-replicator")))
    first.increment("passes"); second.increment("passes", 2)
    first.flush(); second.flush()
    pid = os.fork()
    if pid == 0:
        second.increment("passes", 10); second.flush()
        first.increment("passes", 100); first.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    sys.stdout.write(first.render().decode() + "#SPLIT#" + second.render().decode())
""")


def test_each_directory_gets_only_its_components_figures(tmp_path):
    dirs = [tmp_path / "object", tmp_path / "container"]
    out = subprocess.run([sys.executable, "-c", TWO_DIRS, *map(str, dirs)], check=True,
                         capture_output=True, text=True).stdout
    pages = [samples_of(page) for page in out.split("#SPLIT#")]

    def passes(page):
        return {dict(labels)["server"]: value for (name, labels), value in page.items()
                if name == "oiofs_events_total"}

    assert passes(pages[0]) == {"object-replicator": 101}
    assert passes(pages[1]) == {"container-replicator": 12}
    assert {p.name for p in dirs[0].iterdir()} == {p.name for p in dirs[1].iterdir()}
