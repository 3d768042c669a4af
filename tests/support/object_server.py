"""One real object server subprocess on 127.0.0.1 and the requests the object server tests
send it (tests/functional/test_object_server.py, test_object_durability.py)."""

from __future__ import annotations

import http.client
import os
import socket

from oiofs.common.hashing import hash_path, set_hash_path_secret
from tests.support.servers import (
    ServerProcess,
    free_port,
    write_cluster_conf,
    write_server_conf,
)

T0 = "1700000000.00000"
T1 = "1700000001.00000"
T2 = "1700000002.00000"
CLIENT_TIMEOUT = 1  # seconds before a stalled PUT body answers 408
UPDATE_TIMEOUT = 0.5  # container_update_timeout
NODE_TIMEOUT = 1.5  # how long an update may take before it counts as failed


def start_object_server(root: str, oiofs_dir: str, devices: str, **app_options) -> ServerProcess:
    """Write a config under ``root`` and start an object server (1 worker) on a free port."""
    port = free_port()
    conf = write_server_conf(
        os.path.join(root, f"object-server-{port}.conf"), "egg:oiofs#object",
        {"bind_ip": "127.0.0.1", "bind_port": port, "workers": 1, "devices": devices,
         "mount_check": "false", "oiofs_dir": oiofs_dir, "client_timeout": CLIENT_TIMEOUT,
         "log_level": "INFO"},
        {"container_update_timeout": UPDATE_TIMEOUT, "conn_timeout": 0.5,
         "node_timeout": NODE_TIMEOUT, **app_options})
    return ServerProcess("object", conf, port).start()


def object_server_dirs(root: str) -> tuple[str, str]:
    """Under ``root``: a cluster config directory and a devices directory with device
    ``sda``, as object servers started by :func:`start_object_server` want them."""
    oiofs_dir = os.path.join(root, "etc")
    write_cluster_conf(oiofs_dir)
    devices = os.path.join(root, "devices")
    os.makedirs(os.path.join(devices, "sda"))
    return oiofs_dir, devices


def request(port: int, method: str, path: str, headers: dict | None = None,
            body=None) -> tuple[int, dict, bytes]:
    """One request on a fresh connection: ``(status, headers, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked=body is not None and not isinstance(body, bytes))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def put_object(port: int, path: str, body: bytes, ts: str, **headers) -> int:
    """PUT ``body`` at ``path``; the status."""
    all_headers = {"X-Timestamp": ts, "Content-Type": "application/octet-stream",
                   "Content-Length": str(len(body)), **headers}
    return request(port, "PUT", path, all_headers, body)[0]


def hash_dir_of(devices: str, part: str, account: str, container: str, obj: str) -> str:
    """The hash directory of an object on device ``sda``."""
    set_hash_path_secret("test-prefix", "test-suffix")  # what the test servers use
    name_hash = hash_path(account, container, obj)
    return os.path.join(devices, "sda", "objects", part, name_hash[-3:], name_hash)


def listdir(path: str) -> list[str]:
    """The sorted entries of ``path`` (none if it does not exist)."""
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def raw_put(port: int, path: str, headers: dict, body_parts: list[bytes]) -> socket.socket:
    """Send a PUT's head and ``body_parts`` on a raw socket, leaving it open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode("latin-1"))
    for part in body_parts:
        sock.sendall(part)
    return sock


def read_status(sock: socket.socket) -> int:
    """The status code of the response arriving on ``sock``."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])
