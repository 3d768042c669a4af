"""Backend fan-out against real HTTP servers placed by a real ring: quorum writes,
handoffs for refused or failing primaries, reads with failover, X-Newest, streaming PUT,
resuming a body that breaks mid-way, and reads checked against a quorum."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import threading

import pytest

from oiofs.common import runtime
from oiofs.common.connection_pool import ConnectionPool
from oiofs.common.ring import Ring, RingBuilder
from oiofs.proxy.backend import Backend, StreamingWrite
from oiofs.proxy.checked_listing import existence_vote, read_listing_checked
from oiofs.proxy.checked_read import read_checked
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.object_reader import ReplicatedRead
from oiofs.proxy.streaming import BackendBody, BodyCutShort

BODY = b"0123456789" * 1000


class Node(http.server.BaseHTTPRequestHandler):
    """A storage node whose answers are set per port in ``server.mode``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, body=b""):
        self.server.seen.append((self.command, self.path, dict(self.headers), body))

    def do_PUT(self):
        mode = self.server.mode
        if mode == "fail":
            self._answer(503)
            return
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                body += self.rfile.read(size)
                self.rfile.readline()
                if not size:
                    break
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(body)
        self._answer(201, headers=[("Etag", hashlib.md5(body).hexdigest())])

    do_DELETE = do_PUT
    do_REPLICATE = do_PUT  # a repair push asked of this node (checked_read.repair)

    def do_GET(self):
        self._record()
        mode = self.server.mode
        if mode == "fail":
            self._answer(503)
        elif mode == "missing":
            self._answer(404)
        elif mode.startswith("tomb"):
            self._answer(404, headers=[("X-Backend-Timestamp", mode[4:])])
        elif mode == "break":  # promise the whole body (or range), send a part, hang up
            start, stop = _asked_range(self.headers.get("Range"))
            self.send_response(206 if self.headers.get("Range") else 200)
            self.send_header("X-Backend-Timestamp", "0000000100.00000")
            self.send_header("Content-Length", str(stop - start))
            if self.headers.get("Range"):
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(BODY)}")
            self.send_header("Etag", hashlib.md5(BODY).hexdigest())
            self.end_headers()
            self.wfile.write(BODY[start:start + 3000])
            self.close_connection = True
        elif mode.startswith("rows") and self.headers.get("X-Backend-Include-Deleted"):
            # a container replica's raw rows (the merge of replicas that disagree): one
            # row named after its rows hash; "noraw" replicas fail to give them
            if mode.endswith("noraw"):
                self._answer(503)
                return
            row = {"name": mode[4:], "created_at": "0000000001.00000", "size": 1,
                   "content_type": "text/plain", "etag": "e", "deleted": 0}
            self._answer(200, json.dumps([row]).encode(),
                         [("X-Backend-Rows-Hash", mode[4:]),
                          ("Content-Type", "application/json; charset=utf-8")])
        elif mode.startswith("rows"):  # a container replica: its rows hash and listing
            self._answer(200, mode[4:].encode(), [("X-Backend-Rows-Hash", mode[4:])])
        elif mode.startswith("data"):
            rng = self.headers.get("Range")
            etag = hashlib.md5(BODY).hexdigest()
            headers = [("X-Backend-Timestamp", mode[4:] or "0000000100.00000"),
                       ("Etag", etag)]
            if rng:
                start, stop = _asked_range(rng)
                if self.headers.get("If-Match") not in (etag, None):
                    self._answer(412)
                    return
                self._answer(206, BODY[start:stop], headers)
            else:
                self._answer(200, BODY + mode[4:].encode(), headers)

    do_HEAD = do_GET


def _asked_range(value: str | None) -> tuple[int, int]:
    """``bytes=a-b`` or ``bytes=a-`` as half-open bounds in BODY (all of it without one)."""
    if not value:
        return 0, len(BODY)
    first, _, last = value.split("=")[1].partition("-")
    return int(first), int(last) + 1 if last else len(BODY)


class Cluster:
    """Four nodes (real HTTP servers) in a real 3-replica ring."""

    def __init__(self, tmp_path):
        self.servers = []
        builder = RingBuilder(2, 3, 0)
        for zone in range(4):
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Node)
            server.daemon_threads = True
            server.handle_error = lambda request, address: None
            server.mode = "ok"
            server.seen = []
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                             daemon=True).start()
            self.servers.append(server)
            builder.add_dev({"region": 1, "zone": zone + 1, "ip": "127.0.0.1",
                             "port": server.server_address[1], "device": f"d{zone}",
                             "weight": 100})
        builder.rebalance(seed=1)
        builder.get_ring().save(str(tmp_path / "object.ring.gz"))
        self.ring = Ring(str(tmp_path), ring_name="object")
        self.part = 0
        self.primaries = self.ring.get_part_nodes(0)
        self.handoff = next(iter(self.ring.get_more_nodes(0)))
        self.by_port = {s.server_address[1]: s for s in self.servers}

    def server(self, node):
        return self.by_port[node["port"]]

    def stop(self, node):
        """Stop a node's server for good: connections to its port are refused."""
        server = self.server(node)
        server.shutdown()
        server.server_close()

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


@pytest.fixture
def backend():
    pool = ConnectionPool(conn_timeout=1.0, node_timeout=2.0)
    limiter = ErrorLimiter(limit=3, interval=60, suppression_time=60)
    yield Backend(pool, limiter, logging.getLogger("test-backend"), shuffle_reads=False)
    pool.close_all()


def slot_headers(n):
    return [{"X-Slot": str(i), "Content-Length": "4"} for i in range(n)]


def test_write_reaches_every_primary(cluster, backend):
    answers = backend.write(cluster.ring, 0, cluster.primaries, "PUT", "/a/c/o",
                            slot_headers(3), b"data")
    assert [a.status for a in answers] == [201, 201, 201]
    for index, node in enumerate(cluster.primaries):
        [(method, path, headers, body)] = cluster.server(node).seen
        assert (method, body, headers["X-Slot"]) == ("PUT", b"data", str(index))
        assert path == f"/{node['device']}/0/a/c/o"
    assert cluster.server(cluster.handoff).seen == []


@pytest.mark.parametrize("fault", ["refused", "fail"])
def test_failed_primary_is_replaced_by_a_handoff(cluster, backend, fault):
    broken = cluster.primaries[1]
    if fault == "refused":
        cluster.stop(broken)
    else:
        cluster.server(broken).mode = "fail"
    answers = backend.write(cluster.ring, 0, cluster.primaries, "PUT", "/a/c/o",
                            slot_headers(3), b"data")
    assert [a.status for a in answers] == [201, 201, 201]
    [(_, path, headers, body)] = cluster.server(cluster.handoff).seen
    assert headers["X-Slot"] == "1"  # the handoff stands in for slot 1, same headers
    assert path.startswith(f"/{cluster.handoff['device']}/0/")
    key = ErrorLimiter.key(broken)
    assert backend.limiter.is_limited(key) == (fault == "refused")
    assert backend.limiter.errors(key) == (3 if fault == "refused" else 1)


def test_suppressed_primary_is_not_asked(cluster, backend):
    skipped = cluster.primaries[0]
    backend.limiter.error(ErrorLimiter.key(skipped), fatal=True)
    backend.write(cluster.ring, 0, cluster.primaries, "PUT", "/a/c/o", slot_headers(3),
                  b"data")
    assert cluster.server(skipped).seen == []
    assert len(cluster.server(cluster.handoff).seen) == 1


def test_too_many_failures_answer_503(cluster, backend):
    for node in cluster.primaries[:2]:
        cluster.server(node).mode = "fail"
    answers = backend.write(cluster.ring, 0, cluster.primaries, "PUT", "/a/c/o",
                            slot_headers(3), b"data")
    assert sorted(a.status for a in answers) == [201, 201, 503]


def read(cluster, backend, quorum=2):
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    return backend.read(nodes, "GET", 0, "/a/c/o", {}, quorum)


def test_read_skips_missing_and_failing_nodes(cluster, backend):
    first, second, third = cluster.primaries
    cluster.server(first).mode = "missing"
    cluster.server(second).mode = "fail"
    cluster.server(third).mode = "data"
    resp, node, status = read(cluster, backend)
    assert (status, node["port"]) == (200, third["port"])
    assert resp.read_all() == BODY


def test_read_failure_statuses(cluster, backend):
    for node in cluster.primaries + [cluster.handoff]:
        cluster.server(node).mode = "missing"
    assert read(cluster, backend)[2] == 404
    for node in cluster.primaries + [cluster.handoff]:
        cluster.server(node).mode = "fail"
    assert read(cluster, backend)[2] == 503


def test_newest_copy_wins_and_newer_tombstone_wins_over_it(cluster, backend):
    a, b, c = cluster.primaries
    cluster.server(a).mode = "data0000000100.00000"
    cluster.server(b).mode = "data0000000300.00000"
    cluster.server(c).mode = "tomb0000000200.00000"
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    resp, node, status = backend.read_newest(nodes, "GET", 0, "/a/c/o", {}, 2, 3)
    assert status == 200 and node["port"] == b["port"]
    assert resp.read_all().endswith(b"0000000300.00000")
    cluster.server(c).mode = "tomb0000000400.00000"
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    resp, node, status = backend.read_newest(nodes, "GET", 0, "/a/c/o", {}, 2, 3)
    assert (resp, status) == (None, 404)


def test_streaming_write_with_handoff(cluster, backend):
    cluster.stop(cluster.primaries[2])
    headers = [{"X-Slot": str(i), "Transfer-Encoding": "chunked"} for i in range(3)]
    writer = StreamingWrite(backend, cluster.ring, 0, cluster.primaries, "/a/c/o", headers,
                            chunked=True)
    assert writer.connect() == 3
    for piece in (b"abc", b"def" * 1000):
        assert writer.send(piece) == 3
    answers = writer.finish()
    assert [a.status for a in answers] == [201, 201, 201]
    [(_, _, seen_headers, body)] = cluster.server(cluster.handoff).seen
    assert body == b"abc" + b"def" * 1000 and seen_headers["X-Slot"] == "2"


def test_body_broken_mid_way_is_resumed_from_another_node(cluster, backend):
    first, second, _ = cluster.primaries
    cluster.server(first).mode = "break"
    cluster.server(second).mode = "data"
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o", {}, 2, 6,
                          newest=False)
    resp, node, status = read.answer("GET")
    assert node["port"] == first["port"]
    resume = read.resumer(resp, resp.content_length)
    body = b"".join(BackendBody(resp, 1000, resume))
    assert body == BODY
    range_request = cluster.server(second).seen[-1][2]
    assert range_request["Range"] == f"bytes=3000-{len(BODY) - 1}"
    assert range_request["If-Match"] == hashlib.md5(BODY).hexdigest()


def test_a_broken_single_range_is_resumed_with_the_rest_of_that_range(cluster, backend):
    first, second, _ = cluster.primaries
    cluster.server(first).mode = "break"
    cluster.server(second).mode = "data"
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o",
                          {"Range": "bytes=1000-8999"}, 2, 6, newest=False)
    resp, node, status = read.answer("GET")
    assert (node["port"], status) == (first["port"], 206)
    body = b"".join(BackendBody(resp, 1000, read.resumer(resp, resp.content_length)))
    assert body == BODY[1000:9000]
    assert cluster.server(second).seen[-1][2]["Range"] == "bytes=4000-8999"


def test_a_body_that_cannot_be_resumed_is_cut_short_loudly(cluster, backend):
    """No other node has it: the client's connection must be dropped (BodyCutShort),
    not left waiting for the bytes its Content-Length promised."""
    for node in cluster.primaries:
        cluster.server(node).mode = "break"
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o", {}, 2, 3,
                          newest=False)
    resp, _node, _status = read.answer("GET")
    got = []
    with pytest.raises(BodyCutShort):
        for chunk in BackendBody(resp, 1000, read.resumer(resp, resp.content_length)):
            got.append(chunk)
    assert b"".join(got) == BODY[:len(b"".join(got))] and len(b"".join(got)) < len(BODY)


# --- read-your-writes: the first node's answer checked against a quorum (checked_read) --

def set_modes(cluster, *modes, handoff=None):
    """Set the answers of the primaries (in ring order) and of the first handoff."""
    for node, mode in zip(cluster.primaries, modes, strict=False):
        cluster.server(node).mode = mode
    if handoff is not None:
        cluster.server(cluster.handoff).mode = handoff

def checked(cluster, backend, method="GET", headers=None):
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    return read_checked(backend, nodes, method, 0, "/a/c/o", headers or {}, 2, 2)


def test_checked_read_asks_two_nodes_and_serves_the_first_when_newest(cluster, backend):
    a, b, c = cluster.primaries
    cluster.server(a).mode = "data0000000300.00000"
    cluster.server(b).mode = "data0000000100.00000"
    resp, node, status = checked(cluster, backend, headers={"Range": "bytes=0-1"})
    assert (status, node["port"]) == (206, a["port"])
    assert [seen[0] for seen in cluster.server(a).seen] == ["GET"]
    [(method, _, check_headers, _)] = cluster.server(b).seen
    assert method == "HEAD" and "Range" not in check_headers  # the replica's state
    assert "X-Backend-State-Only" not in check_headers  # a full HEAD unless asked
    assert cluster.server(c).seen == []


def test_a_replicated_read_asks_the_other_replica_for_its_state_only(cluster, backend):
    set_modes(cluster, "data", "data", "data")
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o",
                          {"Range": "bytes=0-1"}, 2, 3, newest=False)
    resp, _node, status = read.answer("GET")
    assert status == 206
    resp.read_all()
    seen = [s for node in cluster.primaries for s in cluster.server(node).seen]
    [(_, _, get_headers, _)] = [s for s in seen if s[0] == "GET"]
    [(_, _, head_headers, _)] = [s for s in seen if s[0] == "HEAD"]
    assert head_headers["X-Backend-State-Only"] == "true" and "Range" not in head_headers
    assert "X-Backend-State-Only" not in get_headers and get_headers["Range"] == "bytes=0-1"


def test_checked_read_serves_a_newer_copy_from_the_node_holding_it(cluster, backend):
    a, b, _ = cluster.primaries
    cluster.server(a).mode = "data0000000100.00000"  # missed the overwrite
    cluster.server(b).mode = "data0000000300.00000"
    resp, node, status = checked(cluster, backend)
    assert (status, node["port"]) == (200, b["port"])
    assert resp.read_all().endswith(b"0000000300.00000")
    assert [seen[0] for seen in cluster.server(b).seen] == ["HEAD", "GET"]


def test_checked_read_finds_the_copy_a_missing_node_lacks(cluster, backend):
    a, b, _ = cluster.primaries
    cluster.server(a).mode = "missing"  # was down during the PUT
    cluster.server(b).mode = "data"
    resp, node, status = checked(cluster, backend)
    assert (status, node["port"]) == (200, b["port"])
    assert resp.read_all().startswith(BODY)


@pytest.mark.parametrize("stale", [0, 1])
def test_checked_read_never_resurrects_a_deleted_object(cluster, backend, stale):
    nodes = cluster.primaries[:2]
    cluster.server(nodes[stale]).mode = "data0000000100.00000"  # missed the DELETE
    cluster.server(nodes[1 - stale]).mode = "tomb0000000200.00000"
    resp, _node, status = checked(cluster, backend)
    assert (resp, status) == (None, 404)
    # the replica holding the tombstone is asked to push it to the stale one, in the
    # background
    seen = cluster.server(nodes[1 - stale]).seen
    for _ in range(200):
        if any(s[0] == "REPLICATE" for s in seen):
            break
        runtime.sleep(0.01)
    [push] = [s for s in seen if s[0] == "REPLICATE"]
    assert push[2]["X-Backend-Replication-Op"] == "push"
    assert [target["device"] for target in json.loads(push[2]["X-Backend-Push-To"])] \
        == [nodes[stale]["device"]]


def test_checked_read_replaces_a_failed_node_and_looks_past_404s(cluster, backend):
    set_modes(cluster, "missing", "fail", "missing", handoff="data")
    resp, node, status = checked(cluster, backend)
    assert (status, node["port"]) == (200, cluster.handoff["port"])
    set_modes(cluster, "missing", "fail", "fail", handoff="tomb0000000050.00000")
    assert checked(cluster, backend)[2] == 404


def test_read_checks_off_asks_one_replica_as_swift_does(cluster, backend):
    """The proxy's ``read_checks = false``: one replica answers, even a stale one (the
    price of the saved request); on, the same replicas give the newer copy."""
    a, b, c = cluster.primaries
    cluster.server(a).mode = "data0000000100.00000"  # missed the overwrite
    cluster.server(b).mode = "data0000000300.00000"
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o", {}, 2, 6,
                          newest=False, checked=False)
    resp, node, status = read.answer("GET")
    assert (status, node["port"]) == (200, a["port"])
    assert resp.read_all().endswith(b"0000000100.00000")
    assert cluster.server(b).seen == [] and cluster.server(c).seen == []
    read = ReplicatedRead(backend, cluster.ring, 0, cluster.primaries, "/a/c/o", {}, 2, 6,
                          newest=False)
    resp, node, status = read.answer("GET")
    assert (status, node["port"]) == (200, b["port"])
    assert resp.read_all().endswith(b"0000000300.00000")


# --- listings a quorum of container replicas agrees on (checked_listing) ----------------

def listing(cluster, backend):
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    resp, status = read_listing_checked(backend, nodes, "GET", 0, "/a/c", {}, 2, 3,
                                        "format=json")
    return (resp.read_all() if resp is not None else None), status


def test_listing_of_a_replica_a_quorum_agrees_with_is_served(cluster, backend):
    a, b, c = cluster.primaries
    for node in (a, b):
        cluster.server(node).mode = "rowsaaa"
    cluster.server(c).mode = "rowsold"
    assert listing(cluster, backend) == (b"aaa", 200)
    assert cluster.server(a).seen[0][:2] == ("GET", f"/{a['device']}/0/a/c?format=json")
    assert [seen[0] for seen in cluster.server(b).seen] == ["HEAD"]
    assert cluster.server(c).seen == []  # two agreeing replicas are enough


def test_listing_of_a_replica_behind_the_others_is_not_served(cluster, backend):
    set_modes(cluster, "rowsold", "rowsnew", "rowsnew")  # the first was down meanwhile
    assert listing(cluster, backend) == (b"new", 200)
    set_modes(cluster, "missing")  # was down when the container was made
    assert listing(cluster, backend) == (b"new", 200)


def test_listing_of_a_container_a_quorum_lacks_is_404(cluster, backend):
    set_modes(cluster, "rowsold", "missing", "missing")  # the first missed the deletion
    assert listing(cluster, backend) == (None, 404)


def test_listing_without_a_quorum_is_merged_from_the_replicas(cluster, backend):
    a, b, c = cluster.primaries
    set_modes(cluster, "rowsone", "rowstwo", "fail", handoff="missing")
    body, status = listing(cluster, backend)
    assert status == 200
    assert [r["name"] for r in json.loads(body)] == ["one", "two"]
    # the replica that disagreed was asked again before the merge, the failed one not
    assert [seen[0] for seen in cluster.server(b).seen] == ["HEAD", "HEAD", "HEAD", "GET"]
    assert cluster.server(b).seen[-1][2]["X-Backend-Include-Deleted"] == "true"
    assert [seen[0] for seen in cluster.server(a).seen] == ["GET", "GET"]
    assert len(cluster.server(c).seen) == 1


def test_listing_without_a_quorum_nor_a_merge_serves_the_first_answer(cluster, backend):
    # a replica fails to give its raw rows: no merge, the first answer as before
    set_modes(cluster, "rowsone", "rowstwonoraw", "fail", handoff="missing")
    assert listing(cluster, backend) == (b"one", 200)
    # one replica holding rows is not a quorum: no merge is tried
    set_modes(cluster, "rowsone", "fail", "fail", handoff="fail")
    assert listing(cluster, backend) == (b"one", 200)


def test_listing_asks_a_replica_that_failed_lately_last(cluster, backend):
    a = cluster.primaries[0]
    # the first is back from an outage, behind; the others differ by an update in flight
    set_modes(cluster, "rowsoldnoraw", "rowsnew1noraw", "rowsnew2noraw")
    backend.node_error(a, "refused", fatal=True)
    backend.node_ok(a)
    assert listing(cluster, backend) == (b"new1noraw", 200)
    assert [seen[0] for seen in cluster.server(a).seen][:3] == ["HEAD", "HEAD", "HEAD"]


def test_a_container_info_needs_its_replicas_to_agree_on_existence_not_rows(cluster,
                                                                            backend):
    # Every replica differs by object updates in flight: the info (policy, ACLs) of an
    # object request is read from two HEADs, not rechecked until the rows agree.
    set_modes(cluster, "rowsone", "rowstwo", "rowsthree")
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    resp, status = read_listing_checked(backend, nodes, "HEAD", 0, "/a/c", {}, 2, 3,
                                        vote=existence_vote)
    assert status == 200 and resp is not None
    resp.discard()
    assert sum(len(cluster.server(node).seen) for node in cluster.primaries) == 2
    # a quorum lacking the container still answers 404
    set_modes(cluster, "rowsold", "missing", "missing")
    nodes = backend.iter_read_nodes(cluster.ring, 0, cluster.primaries, 6)
    assert read_listing_checked(backend, nodes, "HEAD", 0, "/a/c", {}, 2, 3,
                                vote=existence_vote) == (None, 404)
