"""The server runner, on real processes: workers, restarts, graceful stop."""

import http.client
import io
import json
import os
import signal
import threading
import time

import pytest

from tests.support.servers import ServerProcess, free_port, write_server_conf
from tests.support.waiting import wait_for


def _get(port, path="/x", timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body


@pytest.fixture
def echo_server(tmp_path, oiofs_dir):
    def make(workers, slow="1.0", factory="echo_app_factory"):
        port = free_port()
        conf = write_server_conf(
            str(tmp_path / "echo.conf"), f"call:tests.support.apps:{factory}",
            {"bind_port": port, "workers": workers, "oiofs_dir": oiofs_dir,
             "graceful_timeout": 10}, {"slow_seconds": slow})
        # the runner imports tests.support.apps from the working directory (repo root)
        return ServerProcess("echo", conf, port).start()

    servers = []
    yield lambda *a, **k: servers.append(make(*a, **k)) or servers[-1]
    for server in servers:
        server.kill()


def test_serves_with_workers_and_restarts_dead_one(echo_server):
    server = echo_server(2)
    pids = set()

    def both_workers_answered() -> bool:
        status, body = _get(server.port)
        assert status == 200 and body.endswith(" /x")
        pids.add(int(body.split()[0]))
        return len(pids) == 2

    wait_for(both_workers_answered, 10, "both workers to take requests", interval=0)
    victim = pids.pop()
    os.kill(victim, signal.SIGKILL)
    seen = set()

    def two_live_workers_answered() -> bool:
        seen.add(int(_get(server.port)[1].split()[0]))
        return len(seen - {victim}) == 2

    wait_for(two_live_workers_answered, 10, "a new worker to replace the dead one", interval=0)
    assert victim not in seen


def test_sigterm_lets_request_in_flight_finish(echo_server):
    server = echo_server(1, slow="1.0")
    result = {}

    def slow_request():
        result["resp"] = _get(server.port, "/slow")

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)  # the request is in flight inside the app's 1 s sleep
    os.killpg(server.proc.pid, signal.SIGTERM)
    thread.join(10)
    assert result["resp"][0] == 200
    assert server.proc.wait(10) == 0


@pytest.mark.parametrize("factory", ["echo_app_factory", "tpool_app_factory"])
def test_idle_server_stops_promptly_after_serving(echo_server, factory):
    """An idle hub must wake up for SIGTERM (not wait out the 60 s socket timeout), also
    once real threads exist that the kernel may deliver the signal to."""
    server = echo_server(1, factory=factory)
    for _ in range(3):
        assert _get(server.port)[0] == 200
    # keep an idle keep-alive connection open, as proxies do
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    idle.request("GET", "/x")
    idle.getresponse().read()
    time.sleep(0.2)
    start = time.monotonic()
    os.killpg(server.proc.pid, signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - start < 3
    idle.close()


def test_one_registration_per_server_not_per_worker(tmp_path, oiofs_dir):
    """With 2 workers only one registers in the directory; when it dies its replacement
    takes over."""
    from oiofs.directory.store import SqliteStore
    from tests.support.directory_server import DirectoryThread

    pids: list[int] = []

    def recording(app):
        def record(environ, start_response):
            if environ["PATH_INFO"] == "/v1/conscience/register":
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                pids.append(json.loads(body)["tags"]["tag.pid"])
                environ["wsgi.input"] = io.BytesIO(body)
            return app(environ, start_response)
        return record

    directory = DirectoryThread(SqliteStore(str(tmp_path / "d.db")), wrap=recording).start()
    port = free_port()
    conf = write_server_conf(
        str(tmp_path / "echo.conf"), "call:tests.support.apps:echo_app_factory",
        {"bind_port": port, "workers": 2, "oiofs_dir": oiofs_dir,
         "directory_endpoints": directory.url,
         "register_interval": "0.5"}, {"slow_seconds": "0"})
    server = ServerProcess("echo", conf, port).start()
    try:
        wait_for(lambda: len(pids) >= 4, 20, "four registrations")
        (registering,) = set(pids)  # always the same worker
        os.kill(registering, signal.SIGKILL)
        wait_for(lambda: pids[-1] != registering, 20, "the replacement to register")
        seen = len(pids)
        wait_for(lambda: len(pids) >= seen + 3, 20, "three more registrations")
        assert len(set(pids[seen - 1:])) == 1
    finally:
        server.kill()
        directory.stop()
