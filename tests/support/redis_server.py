"""A real ``redis-server`` for tests: its own free port on 127.0.0.1 and its own directory.

>>> server = RedisServer(tmp_dir).start()   # doctest: +SKIP
>>> server.url; ...; server.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import redis

from tests.support.servers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """One redis-server process (AOF on, ``appendfsync always`` unless told otherwise) and
    its data directory."""

    def __init__(self, directory: str, port: int | None = None, appendfsync: str = "always"):
        self.directory = directory
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start it and wait until it answers PING."""
        os.makedirs(self.directory, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.directory, "--save", "", "--appendonly", "yes",
             "--appendfsync", self.appendfsync, "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", os.path.join(self.directory, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not start on {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def running_redis_url(tmp_path_factory):
    """Generator for a module fixture: the URL of a real redis-server of the module's
    own, stopped at the module's end::

        redis_url = pytest.fixture(scope="module", name="redis_url")(running_redis_url)
    """
    server = RedisServer(str(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server.url
    finally:
        server.stop()
