"""The account service's WSGI application in-process, over a real redis-server."""

import json
import logging

import pytest
from werkzeug.test import Client

from oiofs.account.service import AccountService


@pytest.fixture
def service(redis_url):
    app = AccountService({"redis_url": redis_url},
                         logger=logging.getLogger("test.account_service"))
    app.backend.client.flushdb()
    return app


def test_access_log_and_listing_parameters(service, caplog):
    client = Client(service)
    with caplog.at_level(logging.INFO, logger="test.account_service"):
        assert client.post("/v1.0/account/create?id=a").status_code == 201
    assert '"POST /v1.0/account/create?id=a" 201' in caplog.text
    for name in ("x-1", "x-2", "y"):
        resp = client.post("/v1.0/account/container/update?id=a",
                           json={"name": name, "mtime": "1700000000.5", "objects": 1,
                                 "bytes": 2})
        assert resp.status_code == 200
    listing = json.loads(client.get("/v1.0/account/containers?id=a&delimiter=-").data)
    assert [row[0] for row in listing["listing"]] == ["x-", "y"]
    assert listing["listing"][0][3] == 1  # a prefix
    listing = json.loads(client.post("/v1.0/account/containers?id=a",
                                     json={"marker": "x-1", "limit": 1}).data)
    assert [row[0] for row in listing["listing"]] == ["x-2"]
    assert client.get("/v1.0/account/containers?id=a&limit=x").status_code == 400
    assert json.loads(client.get("/status").data) == {"account_count": 1}


def test_a_request_leaves_no_reference_cycle(service):
    """werkzeug's request stored itself in its environ (a cycle per request)."""
    from tests.support.garbage import answer_get, cyclic_garbage

    def work():
        for _ in range(3):
            assert answer_get(service, "/v1.0/account/show", "id=nobody")

    assert cyclic_garbage(work) == []
