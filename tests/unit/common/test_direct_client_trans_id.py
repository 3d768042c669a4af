"""A daemon's request carries a transaction id of its own; a forwarded one is kept."""

import http.server
import re
import threading

import pytest

from oiofs.common.direct_client import direct_request


@pytest.fixture
def echo_server():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            seen.append(self.headers.get_all("X-Trans-Id"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_own_trans_id_unless_one_is_given(echo_server):
    port, seen = echo_server
    direct_request("127.0.0.1", port, "HEAD", "/d1/1/a")
    direct_request("127.0.0.1", port, "HEAD", "/d1/1/a")
    direct_request("127.0.0.1", port, "HEAD", "/d1/1/a", headers={"x-trans-id": "txmine"})
    first, second, forwarded = seen
    assert re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", first[0]) and len(first) == 1
    assert second != first
    assert forwarded == ["txmine"]
