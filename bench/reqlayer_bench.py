#!/usr/bin/env python3
"""What the per-request layer every oiofs server runs costs: server CPU per request.

A server process answers a trivial WSGI application through eventlet's WSGI server,
with the layers of ``oiofs.common.wsgi.serve`` added one at a time (``--variants``):

``eventlet``  eventlet's server and ``HttpProtocol`` as they come, the trivial app
``protocol``  our ``runtime.HttpProtocol`` and ``serve``'s server options
``guard``     + ``without_forbidden_bodies`` (``serve`` used it before the protocol did
              its work; ``--no-guard`` leaves it out of the variants below)
``reqlog``    + ``RequestLog`` (access line at INFO to a file, no metrics)
``recon``     + ``ReconMiddleware``
``base``      the app a ``BaseServerApp`` whose ``PUT`` answers ``WsgiResponse(201)``
              (werkzeug's ``Request`` made per request): the full storage-server stack

Clients (``--concurrency`` threads, one keep-alive connection each) send a container
update's request (a ``PUT`` with the headers an object server sends, no body) or, with
``--body 4096``, a ``PUT`` with a body the app reads. The server's CPU (user + system,
``/proc``) per request is printed for each variant, the variants interleaved round after
round (docs/benchmarks.md, "Small PUTs", "request layer")::

    PYTHONPATH=$PWD python bench/reqlayer_bench.py --requests 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VARIANTS = ("eventlet", "protocol", "guard", "reqlog", "recon", "base")


def _trivial_app(environ, start_response):
    wsgi_input = environ["wsgi.input"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    while length > 0:
        data = wsgi_input.read(min(length, 65536))
        if not data:
            break
        length -= len(data)
    start_response("201 Created", [("Content-Length", "0")])
    return []


def _base_app(devices: str):
    from oiofs.common.base_app import BaseServerApp
    from oiofs.common.http.response import WsgiResponse

    class BenchServer(BaseServerApp):
        allowed_methods = frozenset({"PUT"})

        def PUT(self, req):
            _trivial_app(req.environ, lambda *a: None)
            return WsgiResponse(201)

    return BenchServer({"devices": devices})


def serve(variant: str, port: int, log_file: str, guard: bool = True) -> None:
    """Serve ``variant`` on 127.0.0.1:``port`` until killed."""
    from oiofs.common import runtime
    runtime.monkey_patch()
    import eventlet.wsgi

    from oiofs.common.http.bodiless import without_forbidden_bodies
    from oiofs.common.logger import get_logger
    from oiofs.common.metrics import get_metrics
    from oiofs.common.recon import ReconMiddleware
    from oiofs.common.request_log import RequestLog
    from oiofs.common.wsgi import _SilentLog

    sock = runtime.listen(("127.0.0.1", port), backlog=128, reuse_port=False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conf = {"log_file": log_file, "log_level": "INFO", "log_name": "bench-server"}
    logger = get_logger(conf, "bench-server")
    index = VARIANTS.index(variant)
    app = _base_app(os.path.dirname(log_file)) if variant == "base" else _trivial_app
    if index >= VARIANTS.index("recon"):
        app = ReconMiddleware(app, {"devices": os.path.dirname(log_file)})
    if index >= VARIANTS.index("reqlog"):
        app = RequestLog(app, conf, logger, get_metrics({}, "bench-server"), "container")
    if variant == "guard" or (guard and index > VARIANTS.index("guard")):
        app = without_forbidden_bodies(app)
    if variant == "eventlet":
        eventlet.wsgi.server(sock, app, log_output=False, debug=False)
        return
    pool = runtime.GreenPool(1024)
    runtime.wsgi_server(
        sock, app, log=_SilentLog(logger), custom_pool=pool, keepalive=True,
        log_output=False, socket_timeout=60, minimum_chunk_size=4096, debug=False,
        capitalize_response_headers=False, protocol=runtime.HttpProtocol)


def request_bytes(body: int) -> bytes:
    """A container update's request (what an object server sends), ``body`` bytes long."""
    head = ("PUT /sda1/123/AUTH_test/bench/obj-%d HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nUser-Agent: object-server 1234\r\n"
            "X-Timestamp: 1764928800.12345\r\nX-Size: 4096\r\n"
            "X-Content-Type: application/octet-stream\r\n"
            "X-Etag: 0123456789abcdef0123456789abcdef\r\n"
            "X-Trans-Id: tx0123456789abcdef01234-0069320000\r\n"
            "X-Backend-Storage-Policy-Index: 0\r\nReferer: PUT http://x/v1/a/c/o\r\n"
            "Content-Length: %d\r\n\r\n") % (body, body)
    return head.encode() + b"x" * body


def _client(port: int, count: int, body: int, errors: list[str]) -> None:
    payload = request_bytes(body)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        for _ in range(count):
            sock.sendall(payload)
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 201"):
                raise ValueError(head[:40])
            # every answer here is Content-Length: 0
    except Exception as err:  # reported by the caller
        errors.append(repr(err))
    finally:
        sock.close()


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def run_variant(variant: str, args, tmp: str, port: int) -> tuple[float, float]:
    """(server CPU us per request, requests per second) of one run."""
    log_file = os.path.join(tmp, f"{variant}.log")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", variant, "--port",
                             str(port), "--log-file", log_file]
                            + (["--no-guard"] if args.no_guard else []),
                            env=dict(os.environ, PYTHONPATH=ROOT, PYTHONWARNINGS="ignore"))
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        per_client = args.requests // args.concurrency
        errors: list[str] = []
        _client(port, 200, args.body, errors)  # warm up
        before = cpu_ticks(proc.pid)
        start = time.monotonic()
        threads = [threading.Thread(target=_client, args=(port, per_client, args.body,
                                                          errors))
                   for _ in range(args.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - start
        ticks = cpu_ticks(proc.pid) - before
        if errors:
            raise RuntimeError(f"{variant}: {len(errors)} errors, first {errors[0]}")
        total = per_client * args.concurrency
        return ticks / os.sysconf("SC_CLK_TCK") / total * 1e6, total / wall
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--log-file", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=28390)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--body", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-guard", action="store_true",
                        help="no without_forbidden_bodies in reqlog, recon and base")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.log_file, guard=not args.no_guard)
        return 0
    variants = args.variants.split(",")
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="reqlayer-") as tmp:
        for round_no in range(args.rounds):
            for variant in variants:
                cpu, rate = run_variant(variant, args, tmp, args.port)
                results[variant].append((cpu, rate))
                print(f"round {round_no + 1} {variant:9s} {cpu:7.1f} us/req "
                      f"{rate:8.0f} req/s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for variant in variants:
        cpus = sorted(cpu for cpu, _ in results[variant])
        print(f"{variant:9s} server CPU us/request: median {cpus[len(cpus) // 2]:.1f} "
              f"(min {cpus[0]:.1f}, max {cpus[-1]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
