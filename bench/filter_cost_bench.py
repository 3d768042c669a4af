"""CPU each proxy filter adds to a plain small-object GET and PUT, in process.

Each filter of the all-in-one's pipeline is put alone in front of a stub proxy (answers
at once with a small object's headers; it stands in for the proxy's info cache too),
then all of them together; the CPU time (``time.process_time``, so other load on the
machine barely counts) per request above the stub's own is printed in microseconds.
What a filter costs a request it has nothing to do with is what this shows; the
cluster run (bench/pipeline_bench.py) shows the same cost as part of a real request.

    python bench/filter_cost_bench.py --requests 20000
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
warnings.simplefilter("ignore")  # eventlet's deprecation notice

from oiofs.proxy.container_info import ContainerInfo  # noqa: E402
from oiofs.proxy.middleware import (  # noqa: E402
    dlo,
    gatekeeper,
    healthcheck,
    ratelimit,
    slo,
    symlink,
    tempurl,
    versioned_writes,
)

#: innermost first, as the pipeline wraps them
FILTERS = (("symlink", symlink), ("versioned_writes", versioned_writes), ("dlo", dlo),
           ("slo", slo), ("ratelimit", ratelimit), ("tempurl", tempurl),
           ("healthcheck", healthcheck), ("gatekeeper", gatekeeper))
HEADERS = [("Content-Length", "4096"), ("Content-Type", "application/octet-stream"),
           ("Etag", "d41d8cd98f00b204e9800998ecf8427e"), ("Accept-Ranges", "bytes"),
           ("Last-Modified", "Sat, 05 Dec 2026 12:00:00 GMT"), ("X-Timestamp", "1.00000"),
           ("X-Object-Meta-Color", "red"), ("X-Trans-Id", "tx0"),
           ("X-Openstack-Request-Id", "tx0")]
BODY = b"x" * 4096


class StubProxy:
    """Answers every request at once; every container exists, unversioned."""

    info = ContainerInfo(204)

    def cached_container_info(self, environ, account, container):
        return self.info

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "PUT":
            start_response("201 Created", [("Etag", "e"), ("Content-Length", "0")])
            return []
        start_response("200 OK", list(HEADERS))
        return [BODY]


def environ(method: str) -> dict:
    return {"REQUEST_METHOD": method, "PATH_INFO": "/v1/AUTH_test/c/o", "QUERY_STRING": "",
            "wsgi.input": io.BytesIO(BODY if method == "PUT" else b""),
            "CONTENT_LENGTH": "4096" if method == "PUT" else "0",
            "CONTENT_TYPE": "application/octet-stream", "HTTP_X_AUTH_TOKEN": "AUTH_tk",
            "HTTP_HOST": "127.0.0.1:8080", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
            "HTTP_USER_AGENT": "bench", "HTTP_ACCEPT_ENCODING": "identity",
            "HTTP_CONNECTION": "keep-alive", "REMOTE_ADDR": "127.0.0.1"}


def cpu_per_request(app, method: str, n: int) -> float:
    def start_response(status, headers, exc_info=None):
        return None

    start = time.process_time()
    for _ in range(n):
        body = app(environ(method), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.process_time() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    stub = StubProxy()
    for method in ("GET", "PUT"):
        base = min(cpu_per_request(stub, method, args.requests) for _ in range(3))
        print(f"{method}: stub alone {base:.1f} us")
        whole = stub
        for name, module in FILTERS:
            alone = module.filter_factory({})(stub)
            whole = module.filter_factory({})(whole)
            cost = min(cpu_per_request(alone, method, args.requests) for _ in range(3))
            print(f"  {name:17s} +{cost - base:5.1f} us")
        cost = min(cpu_per_request(whole, method, args.requests) for _ in range(3))
        print(f"  {'all together':17s} +{cost - base:5.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
