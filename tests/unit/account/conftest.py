"""Fixtures shared by the account tests."""

import pytest

from tests.support.redis_server import running_redis_url

#: the URL of a real redis-server of the module's own (stopped at the module's end)
redis_url = pytest.fixture(scope="module", name="redis_url")(running_redis_url)
