"""One real object server with statsd on: the packets its requests send to a UDP socket on
127.0.0.1, and its access lines (chunked body counted, transaction id taken from the
request)."""

import os
import socket

import pytest

from oiofs.common.access_log import parse_access_line
from tests.support.object_server import T0, request
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def statsd_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, statsd_socket):
    root = str(tmp_path_factory.mktemp("objmetrics"))
    oiofs_dir = os.path.join(root, "etc")
    write_cluster_conf(oiofs_dir)
    devices = os.path.join(root, "devices")
    os.makedirs(os.path.join(devices, "sda"))
    port = free_port()
    log_file = os.path.join(root, "object-server.log")
    conf = write_server_conf(
        os.path.join(root, "object-server.conf"), "egg:oiofs#object",
        {"bind_ip": "127.0.0.1", "bind_port": port, "workers": 1, "devices": devices,
         "mount_check": "false", "oiofs_dir": oiofs_dir, "log_level": "INFO",
         "log_file": log_file, "log_statsd_host": "127.0.0.1",
         "log_statsd_port": statsd_socket.getsockname()[1],
         "log_statsd_metric_prefix": "node1"})
    srv = ServerProcess("object", conf, port).start()
    srv.log_file = log_file
    try:
        yield srv
    finally:
        srv.stop()


def packets(sock) -> list[str]:
    lines = []
    while True:
        try:
            lines += sock.recv(65536).decode().splitlines()
        except TimeoutError:
            return lines


def test_requests_send_statsd_and_log_lines(server, statsd_socket):
    path = "/sda/3/a/c/o"
    chunks = [b"a" * 70_000, b"b" * 3]
    status, _, _ = request(server.port, "PUT", path, {
        "X-Timestamp": T0, "Content-Type": "x/y", "Transfer-Encoding": "chunked",
        "X-Trans-Id": "txchunked-put", "X-Backend-Storage-Policy-Index": "0"}, iter(chunks))
    assert status == 201
    assert request(server.port, "GET", path, {"X-Trans-Id": "txthe-get"})[0] == 200
    assert request(server.port, "GET", "/sda/3/a/c/none")[0] == 404

    lines = []

    def all_arrived():
        lines.extend(packets(statsd_socket))
        return sum(1 for line in lines if line.endswith("|ms")) >= 3

    wait_for(all_arrived, what="three statsd timings")
    names = [line.split(":")[0] for line in lines]
    assert names.count("node1.object-server.PUT.timing") == 1
    assert names.count("node1.object-server.GET.timing") == 2  # a 404 is no error

    def access(trans_id):
        with open(server.log_file) as handle:
            found = [parse_access_line(line) for line in handle if f" {trans_id} " in line]
        return found

    [put] = wait_for(lambda: access("txchunked-put"), what="the PUT's access line")
    assert put["method"] == "PUT" and put["status"] == "201"
    assert put["bytes_recvd"] == "70003" and put["policy_index"] == "0"
    [get] = wait_for(lambda: access("txthe-get"), what="the GET's access line")
    assert get["bytes_sent"] == "70003" and get["bytes_recvd"] == "0"
