"""Fixtures shared by the account tests."""

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """The URL of a real redis-server of the module's own (stopped at the module's end)."""
    server = RedisServer(str(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server.url
    finally:
        server.stop()
