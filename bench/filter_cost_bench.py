#!/usr/bin/env python3
"""What the proxy's filters alone cost a small-object GET and PUT, in one process.

Each pipeline's filters (built from their entry points) in front of a terminal WSGI app
that answers at once and gives cached container/account infos, driven with
authenticated GET and PUT environs: CPU microseconds per request, no cluster, no I/O
(docs/benchmarks.md, "The middleware pipeline"). ``bench/pipeline_bench.py`` measures
the same pipelines on a running cluster.

    PYTHONPATH=$PWD python bench/filter_cost_bench.py --count 20000
"""

from __future__ import annotations

import argparse
import importlib.metadata
import time

from oiofs.cli.allinone.configs import PROXY_PIPELINE
from oiofs.common.live_config import LiveConfig
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
    live_config = LiveConfig()  # the admin filter registers its settings there
    container_controller = _Infos(ContainerInfo(204, meta={"color": "blue"}))
    account_controller = _Infos(AccountInfo(204))

    def cached_container_info(self, environ, account, container):
        return self.container_controller.info

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


def cost(app, method: str, token: str, count: int) -> float:
    """CPU microseconds per ``method`` request through ``app``, best of 3."""
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        for _ in range(count):
            app({"REQUEST_METHOD": method, "PATH_INFO": "/v1/AUTH_test/c/o",
                 "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1:8080",
                 "HTTP_X_AUTH_TOKEN": token, "CONTENT_LENGTH": "4096",
                 "REMOTE_ADDR": "127.0.0.1"}, lambda *args: None)
        best = min(best, (time.process_time() - began) / count * 1e6)
    return best


def filters(count: int, each: bool) -> None:
    token = TempAuth(None, AUTH_CONF).signer.make("test:tester", "testing",
                                                  int(time.time()) + 3600)
    for label, pipeline in (("before issue 9", BASE_PIPELINE), ("full", PROXY_PIPELINE)):
        app = build(pipeline.split()[:-1])
        for method in ("GET", "PUT"):
            print(f"{label:15} {len(pipeline.split()) - 1:2} filters {method}: "
                  f"{cost(app, method, token, count):.1f} us CPU/request")
    if not each:
        return
    # each filter of the full pipeline alone in front of the terminal (tempauth, which
    # the others need to see an authorized request, is in every one and counted apart)
    bare = {m: cost(Terminal(), m, token, count) for m in ("GET", "PUT")}
    auth = {m: cost(build(["tempauth"]), m, token, count) for m in ("GET", "PUT")}
    print(f"{'terminal alone':24} GET {bare['GET']:6.1f}  PUT {bare['PUT']:6.1f} us")
    print(f"{'tempauth':24} GET {auth['GET'] - bare['GET']:6.1f}  "
          f"PUT {auth['PUT'] - bare['PUT']:6.1f} us")
    for name in PROXY_PIPELINE.split()[:-1]:
        if name == "tempauth":
            continue
        names = [n for n in PROXY_PIPELINE.split()[:-1] if n in ("tempauth", name)]
        app = build(names)
        print(f"{name:24} " + "  ".join(
            f"{m} {cost(app, m, token, count) - auth[m]:6.1f}" for m in ("GET", "PUT"))
            + " us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--each", action="store_true",
                        help="also each filter alone (with tempauth) in front of the stub")
    args = parser.parse_args()
    filters(args.count, args.each)


if __name__ == "__main__":
    main()
