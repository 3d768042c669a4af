#!/usr/bin/env python3
"""What the proxy's middleware pipeline costs a small-object GET and PUT.

Two measurements (docs/benchmarks.md, "The middleware pipeline"):

* ``filters``: the filters alone, in one process: each pipeline's filters (built from
  their entry points) in front of a terminal WSGI app that answers at once and gives
  cached container/account infos, driven with authenticated GET and PUT environs; CPU
  microseconds per request. No cluster, no I/O: the number is the filters' own cost.
* ``cluster``: an all-in-one cluster (1 proxy worker, no daemons) on 127.0.0.1; its proxy
  restarted alternately with the full pipeline and with the pipeline before issue 9's
  filters, and ``oiofs-bench`` run against each (small objects only), reporting rates
  and the proxy's CPU per operation.

    PYTHONPATH=$PWD python bench/pipeline_bench.py filters
    PYTHONPATH=$PWD python bench/pipeline_bench.py cluster --rounds 2 --dir /tmp/pipebench
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time

from oiofs.cli.allinone import AllInOne, processes
from oiofs.cli.allinone.configs import PROXY_PIPELINE
from oiofs.proxy.container_info import AccountInfo, ContainerInfo
from oiofs.proxy.info_cache import InfoCache
from oiofs.proxy.middleware.tempauth import TempAuth

#: the pipeline before the middlewares of issue 9 (but gatekeeper and tempurl)
BASE_PIPELINE = "gatekeeper healthcheck tempurl tempauth slo dlo proxy-server"
AUTH_CONF = {"token_secret": "bench", "user_test_tester": "testing .admin"}


class _Infos:
    def __init__(self, info):
        self.info = info

    def container_info(self, req, account, container):
        return self.info

    def account_info(self, req, account):
        return self.info


class Terminal:
    """Stands in for the proxy application: cached infos, an immediate 200."""

    container_cache = InfoCache()
    account_cache = InfoCache()
    container_controller = _Infos(ContainerInfo(204, meta={"color": "blue"}))
    account_controller = _Infos(AccountInfo(204))

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]


def build(names: list[str]):
    factories = {e.name: e for e in
                 importlib.metadata.entry_points(group="paste.filter_factory")}
    app = Terminal()
    for name in reversed(names):
        app = factories[name].load()({}, **AUTH_CONF)(app)
    return app


def filters(count: int) -> None:
    token = TempAuth(None, AUTH_CONF).signer.make("test:tester", "testing",
                                                  int(time.time()) + 3600)
    for label, pipeline in (("before issue 9", BASE_PIPELINE), ("full", PROXY_PIPELINE)):
        app = build(pipeline.split()[:-1])
        for method in ("GET", "PUT"):
            began = time.process_time()
            for _ in range(count):
                app({"REQUEST_METHOD": method, "PATH_INFO": "/v1/AUTH_test/c/o",
                     "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1:8080",
                     "HTTP_X_AUTH_TOKEN": token, "CONTENT_LENGTH": "4096",
                     "REMOTE_ADDR": "127.0.0.1"}, lambda *args: None)
            cost = (time.process_time() - began) / count * 1e6
            print(f"{label:15} {len(pipeline.split()) - 1:2} filters {method}: "
                  f"{cost:.1f} us CPU/request")


def cluster(root: str, rounds: int, port_base: int) -> None:
    aio = AllInOne(root, port_base=port_base, proxy_workers=1, daemons=False)
    aio.start()
    conf = aio.layout.proxy_conf
    results = []
    try:
        for round_number in range(rounds):
            for label, pipeline in (("full", PROXY_PIPELINE), ("before", BASE_PIPELINE)):
                with open(conf) as handle:
                    text = re.sub(r"^pipeline = .*$", f"pipeline = {pipeline}",
                                  handle.read(), flags=re.M)
                with open(conf, "w") as handle:
                    handle.write(text)
                processes.stop_process("proxy-server", aio.layout.run, aio.layout.root)
                aio._start("proxy-server", processes.server_argv("proxy", conf))
                aio._wait([aio.layout.proxy_port])
                out = subprocess.run(
                    [os.path.join(os.path.dirname(sys.executable), "oiofs-bench"),
                     "--auth", aio.auth_url, "--user", "test:tester", "--key", "testing",
                     "--concurrency", "8", "--objects", "1500", "--duration", "15",
                     "--skip-large", "--skip-list", "--json", "--quiet", "--cpu-pids",
                     os.path.join(aio.layout.run, "proxy-server.pid")],
                    capture_output=True, text=True, timeout=900, check=True)
                doc = json.loads(out.stdout)
                for phase in doc["phases"]:
                    row = (round_number, label, phase["name"], phase["req_per_s"],
                           phase["cpu_ms_per_op"], os.getloadavg()[0])
                    results.append(row)
                    print("round %d %-6s %-6s %7.1f req/s  proxy %.3f ms CPU/op  "
                          "load %.0f" % row, flush=True)
    finally:
        aio.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("filters").add_argument("--count", type=int, default=20000)
    run = sub.add_parser("cluster")
    run.add_argument("--dir", default="/tmp/pipeline-bench")
    run.add_argument("--rounds", type=int, default=2)
    run.add_argument("--port-base", type=int, default=27000)
    args = parser.parse_args()
    if args.what == "filters":
        filters(args.count)
    else:
        cluster(args.dir, args.rounds, args.port_base)


if __name__ == "__main__":
    main()
