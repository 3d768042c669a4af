"""Operators' view of a running cluster: access lines followed by transaction id across
the log files, and the Prometheus pages of the proxy and the storage servers."""

import glob
import http.client
import os

from prometheus_client.parser import text_string_to_metric_families

from oiofs.common.access_log import parse_access_line
from oiofs.common.ring import Ring
from tests.support.proxy_client import unique
from tests.support.waiting import wait_for


def access_lines(cluster, name: str, trans_id: str) -> list[dict]:
    """The access lines of ``log/<name>.log`` carrying ``trans_id``."""
    path = os.path.join(cluster.layout.log, f"{name}.log")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [parse_access_line(line) for line in handle
                if f" {trans_id} " in line and " INFO " in line]


def logs_with(cluster, trans_id: str) -> set[str]:
    """The names of the log files that mention ``trans_id``."""
    found = set()
    for path in glob.glob(os.path.join(cluster.layout.log, "*.log")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            if trans_id in handle.read():
                found.add(os.path.basename(path)[:-4])
    return found


def test_one_put_followed_from_the_proxy_to_every_node(cluster, client):
    container, obj = unique("logs"), "an object/with space"
    assert client.request("PUT", f"/{container}").status == 201
    body = b"x" * 1234
    resp = client.request("PUT", f"/{container}/{obj}", body=body,
                          headers={"User-Agent": "log test/1.0"})
    assert resp.status == 201
    trans_id = resp.headers["x-trans-id"]
    assert trans_id.startswith("tx") and resp.headers["x-openstack-request-id"] == trans_id

    # three object servers stored it: the primaries, or a handoff for a primary that was
    # too slow to answer on a loaded machine
    def object_servers():
        logs = {name for name in logs_with(cluster, trans_id)
                if name.startswith("object-server-")}
        return logs if len(logs) >= 3 else None

    object_logs = wait_for(object_servers, what="the transaction in 3 object servers' logs")
    assert len(object_logs) == 3
    ring = Ring(cluster.oiofs_dir, ring_name="object")
    _part, primaries = ring.get_nodes("AUTH_test", container, obj)
    port_base = cluster.layout.port_base
    primary_logs = {f"object-server-{(node['port'] - port_base) // 10}" for node in primaries}
    assert len(object_logs & primary_logs) >= 2
    # the proxy writes its line once the answer is sent: it may come after the client read it
    [proxy_line] = wait_for(lambda: access_lines(cluster, "proxy-server", trans_id),
                            what="the proxy's access line")
    found = logs_with(cluster, trans_id)
    assert any(name.startswith("container-server-") for name in found)
    assert proxy_line["method"] == "PUT"
    assert proxy_line["path"] == f"/v1/AUTH_test/{container}/{obj}"
    assert proxy_line["status"] == "201"
    assert proxy_line["bytes_recvd"] == "1234"
    assert proxy_line["user_agent"] == "log test/1.0"
    assert proxy_line["policy_index"] == "0"
    assert float(proxy_line["request_time"]) >= 0
    for name in object_logs:
        [line] = access_lines(cluster, name, trans_id)
        assert line["method"] == "PUT" and line["status"] == "201"
        assert line["path"].endswith(f"/AUTH_test/{container}/{obj}")
        assert line["bytes_recvd"] == "1234"
        assert line["policy_index"] == "0"
        assert line["user_agent"].startswith("proxy-server ")  # the proxy worker's pid


def test_a_get_logs_the_bytes_sent(cluster, client):
    container = unique("logs")
    assert client.request("PUT", f"/{container}").status == 201
    assert client.request("PUT", f"/{container}/o", body=b"y" * 300).status == 201
    resp = client.request("GET", f"/{container}/o?multipart-manifest=get", quote_path=False)
    assert resp.status == 200
    trans_id = resp.headers["x-trans-id"]
    [line] = wait_for(lambda: access_lines(cluster, "proxy-server", trans_id),
                      what="the GET's access line")
    assert line["bytes_sent"] == "300" and line["bytes_recvd"] == "0"
    assert line["path"] == f"/v1/AUTH_test/{container}/o?multipart-manifest=get"


def scrape(port: int) -> dict:
    """The samples of ``GET /metrics`` on a server, parsed by the Prometheus client's own
    parser: ``{(name, sorted labels): value}``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200, text
        assert resp.getheader("Content-Type").startswith("text/plain")
    finally:
        conn.close()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_requests(cluster, client):
    container = unique("metrics")
    assert client.request("PUT", f"/{container}").status == 201
    assert client.request("PUT", f"/{container}/o", body=b"z" * 100).status == 201
    proxy = dict(server="proxy-server", type="object", method="GET", status="200",
                 policy="0")
    before = scrape(cluster.layout.proxy_port)
    for _ in range(5):
        assert client.request("GET", f"/{container}/o").status == 200

    def moved():
        after = scrape(cluster.layout.proxy_port)
        return after if value(after, "oiofs_requests_total", **proxy) \
            >= value(before, "oiofs_requests_total", **proxy) + 5 else None

    after = wait_for(moved, what="the proxy's GET count to move by 5")
    timing = dict(server="proxy-server", type="object", method="GET")
    assert value(after, "oiofs_request_duration_seconds_count", **timing) >= \
        value(before, "oiofs_request_duration_seconds_count", **timing) + 5
    assert value(after, "oiofs_request_duration_seconds_bucket", le="+Inf", **timing) == \
        value(after, "oiofs_request_duration_seconds_count", **timing)
    assert value(after, "oiofs_request_bytes_total", server="proxy-server", type="object",
                 direction="out") >= 500

    # every storage server has its own page; the object servers together answered the GETs
    def object_gets():
        total = 0.0
        for node in cluster.nodes:
            total += value(scrape(node["object_port"]), "oiofs_requests_total",
                           server="object-server", type="object", method="GET",
                           status="200", policy="0")
        return total >= 5
    wait_for(object_gets, what="the object servers' GET counts")
    node = cluster.nodes[0]
    assert any(key[0] == "oiofs_requests_total"
               for key in scrape(node["container_port"]))
