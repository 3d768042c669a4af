"""Fixtures of the directory tests: the directory app on each of its two stores."""

import itertools

import pytest

from oiofs.directory.server import DirectoryApp
from oiofs.directory.store import RedisStore, SqliteStore
from tests.support.redis_server import running_redis_url

_prefixes = itertools.count()


#: the URL of a real redis-server of the module's own (stopped at the module's end)
redis_url = pytest.fixture(scope="module", name="redis_url")(running_redis_url)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """A fresh, empty store of each kind (Redis: its own key prefix)."""
    if request.param == "sqlite":
        made = SqliteStore(str(tmp_path / "directory.db"))
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore({"redis_url": url,
                           "redis_key_prefix": f"test{next(_prefixes)}:"})
    yield made
    made.close()


@pytest.fixture
def app(store):
    """The directory application on ``store`` (services time out after 15 s)."""
    return DirectoryApp({"service_timeout": "15"}, store=store)
