"""The clients, the registrar and the proxy's scoreboard against a real directory over HTTP
(the app served by werkzeug in a thread on 127.0.0.1)."""

import logging
import random
import time

import pytest

from oiofs.common import runtime
from oiofs.directory.client import ConscienceClient, DirectoryClient
from oiofs.directory.errors import (
    DirectoryUnavailable,
    NoSuchService,
    ReferenceConflict,
)
from oiofs.directory.registrar import Registrar
from oiofs.directory.store import SqliteStore
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.scores import ScoreBoard
from tests.support.directory_server import DirectoryThread
from tests.support.servers import free_port


@pytest.fixture
def directory(tmp_path):
    """A directory on 127.0.0.1 (sqlite); yields its endpoint and itself."""
    with DirectoryThread(SqliteStore(str(tmp_path / "d.db"))) as running:
        yield running.url, running


def _dead_endpoint():
    return f"http://127.0.0.1:{free_port()}"


def test_conscience_client_round_trip_and_failover(directory):
    endpoint, _server = directory
    client = ConscienceClient({"directory_endpoints": f"{_dead_endpoint()},{endpoint}"})
    client.register({"type": "object", "addr": "127.0.0.1:6010", "score": 70,
                     "tags": {"tag.loc": "1.1.h1.d1"}})
    assert client.endpoints[0] == endpoint  # the one that answered comes first now
    (service,) = client.list_services("object")
    assert (service["id"], service["score"], service["tags"]["tag.loc"]) == (
        "127.0.0.1:6010", 70, "1.1.h1.d1")
    assert client.lock("object", "127.0.0.1:6010", 0)["score"] == 0
    assert client.show("object", "127.0.0.1:6010")["locked"] is True
    assert client.unlock("object", "127.0.0.1:6010")["score"] == 70
    assert client.service_types() == ["object"]
    with pytest.raises(NoSuchService):
        client.lock("object", "127.0.0.1:1", 0)


def test_no_directory_answering_raises_unavailable():
    client = ConscienceClient(endpoints=[_dead_endpoint()], timeout=1)
    with pytest.raises(DirectoryUnavailable):
        client.list_services()


def test_directory_client_references(directory):
    endpoint, _server = directory
    ConscienceClient(endpoints=[endpoint]).register(
        {"type": "rdir", "addr": "127.0.0.1:7000", "score": 50})
    dc = DirectoryClient({"directory_endpoints": endpoint})
    assert dc.create("AUTH_a", "vol", properties={"k": "v"}) is True
    assert dc.create("AUTH_a", "vol") is False
    assert dc.has("AUTH_a", "vol") and not dc.has("AUTH_a", "other")
    (link,) = dc.link("AUTH_a", "vol", "rdir")
    assert (link["host"], link["seq"]) == ("127.0.0.1:7000", 1)
    assert [lk["seq"] for lk in dc.renew("AUTH_a", "vol", "rdir")] == [1, 2]
    cid = dc.list("AUTH_a", "vol")["cid"]
    assert len(dc.list(cid=cid, service_type="rdir")["srv"]) == 2
    links = dc.force("AUTH_a", "vol", "meta2", {"host": "127.0.0.1:1", "seq": 1})
    assert {lk["type"] for lk in links} == {"rdir", "meta2"}
    with pytest.raises(ReferenceConflict):
        dc.force("AUTH_a", "vol", "meta2", {"host": "127.0.0.1:2", "seq": 1})
    dc.force("AUTH_a", "vol", "meta2", {"host": "127.0.0.1:2", "seq": 1}, replace=True)
    dc.set_properties("AUTH_a", "vol", {"x": "1"})
    assert dc.get_properties("AUTH_a", "vol")["properties"] == {"k": "v", "x": "1"}
    dc.del_properties("AUTH_a", "vol", ["k"])
    assert dc.get_properties("AUTH_a", "vol", ["k", "x"])["properties"] == {"x": "1"}
    with pytest.raises(ReferenceConflict):
        dc.delete("AUTH_a", "vol")
    dc.unlink("AUTH_a", "vol", "rdir")
    dc.unlink("AUTH_a", "vol", "meta2")
    dc.destroy("AUTH_a", "vol")
    assert not dc.has("AUTH_a", "vol")


def test_registrar_registers_and_survives_a_dead_directory(directory, tmp_path):
    endpoint, _server = directory
    (tmp_path / "devices" / "d1").mkdir(parents=True)
    conf = {"directory_endpoints": endpoint, "bind_ip": "127.0.0.1", "bind_port": "6010",
            "devices": str(tmp_path / "devices"), "location": "1.2.host1.d1"}
    logger = logging.getLogger("test-registrar")
    assert Registrar(conf, "object", logger).register_once() is True
    (service,) = ConscienceClient(endpoints=[endpoint]).list_services("object")
    assert service["addr"] == "127.0.0.1:6010" and 1 <= service["score"] <= 100
    tags = service["tags"]
    assert tags["tag.loc"] == "1.2.host1.d1" and 0 < tags["stat.space"] <= 100
    assert tags["tag.vers"] and "stat.load" in tags

    lines = _Lines()
    dead_logger = logging.getLogger("test-registrar-dead")
    dead_logger.addHandler(lines)
    try:
        dead = Registrar({**conf, "directory_endpoints": _dead_endpoint()}, "object",
                         dead_logger)
        assert [dead.register_once() for _ in range(3)] == [False] * 3
    finally:
        dead_logger.removeHandler(lines)
    assert len([m for m in lines.messages if "cannot register" in m]) == 1


class _Lines(logging.Handler):
    """Keeps the messages logged through it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_scoreboard_drains_and_keeps_last_scores(directory):
    endpoint, server = directory
    cs = ConscienceClient(endpoints=[endpoint])
    cs.register([{"type": "object", "addr": "127.0.0.1:6010", "score": 80},
                 {"type": "object", "addr": "127.0.0.1:6020", "score": 80}])
    cs.lock("object", "127.0.0.1:6020", 0)
    board = ScoreBoard(ConscienceClient(endpoints=[endpoint], timeout=1),
                       logging.getLogger("test-scores"))
    assert board.refresh() is True
    limiter = ErrorLimiter(drained=board.is_drained)
    assert limiter.is_limited("127.0.0.1:6020/d2") is True
    assert limiter.is_limited("127.0.0.1:6010/d1") is False
    assert limiter.is_limited("127.0.0.1:6030/d3") is False  # unknown: as without
    server.stop()  # the directory goes away: the last scores stay
    board.client.endpoints = [_dead_endpoint()]
    assert board.refresh() is False
    assert limiter.is_limited("127.0.0.1:6020/d2") is True
    assert board.scores["127.0.0.1:6010"] == 80


def test_scoreboard_refreshes_in_the_background_without_requests(directory):
    """Once started, the board follows a lock with nobody asking it anything; with
    the directory gone it keeps the last scores; stopped, it reads no more."""
    endpoint, server = directory
    cs = ConscienceClient(endpoints=[endpoint])
    cs.register({"type": "object", "addr": "127.0.0.1:6010", "score": 80})
    board = ScoreBoard(ConscienceClient(endpoints=[endpoint], timeout=1),
                       logging.getLogger("test-scores"), refresh_interval=0.1)
    assert board.refresh() is True and board.scores == {"127.0.0.1:6010": 80}
    board.start()
    board.start()  # idempotent: still one thread
    try:
        cs.lock("object", "127.0.0.1:6010", 0)
        _yield_until(lambda: board.scores.get("127.0.0.1:6010") == 0)
        server.stop()
        read_at = board.fetched_at
        runtime.sleep(0.5)  # several failed refreshes
        assert board.fetched_at == read_at and board.is_drained("127.0.0.1:6010")
    finally:
        board.stop()


def _yield_until(predicate, timeout=10.0):
    """Give the hub (the board's green thread) the hand until ``predicate()``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the board did not refresh"
        runtime.sleep(0.05)


def test_weighted_order_prefers_higher_scores():
    board = ScoreBoard(ConscienceClient(endpoints=["http://127.0.0.1:1"]),
                       logging.getLogger("test-scores"), rng=random.Random(7))
    board.scores = {"127.0.0.1:1": 90, "127.0.0.1:2": 10}
    nodes = [{"ip": "127.0.0.1", "port": 1}, {"ip": "127.0.0.1", "port": 2}]
    firsts = [board.weighted_order(nodes)[0]["port"] for _ in range(1000)]
    assert 850 <= firsts.count(1) <= 950  # 90% in theory
    assert sorted(n["port"] for n in board.weighted_order(nodes)) == [1, 2]


def test_two_directories_on_one_redis_serve_the_same_cluster(redis_url):
    """Registered through one instance, seen and locked through the other; a client
    listing both keeps working when the first one stops."""
    from oiofs.directory.store import RedisStore

    conf = {"redis_url": redis_url, "redis_key_prefix": "shared:"}
    servers = [DirectoryThread(RedisStore(conf)).start() for _ in range(2)]
    first, second = (server.url for server in servers)
    try:
        ConscienceClient(endpoints=[first]).register(
            {"type": "object", "addr": "127.0.0.1:6010", "score": 60})
        ConscienceClient(endpoints=[second]).lock("object", "127.0.0.1:6010", 0)
        both = ConscienceClient(endpoints=[first, second], timeout=2)
        assert both.show("object", "127.0.0.1:6010")["score"] == 0
        servers[0].stop()
        (service,) = both.list_services("object")
        assert service["locked"] and both.endpoints[0] == second
    finally:
        for server in servers:
            server.stop()
