"""The container_sync filter behind the gatekeeper, in front of a small app that knows
one container's sync key and records what reaches it."""

import io
import time
from urllib.parse import quote

import pytest

from oiofs.common.container_sync_realms import get_sig, make_nonce
from oiofs.proxy.controllers.base import (
    AUTHORIZE_OVERRIDE_KEY,
    BACKEND_HEADERS_KEY,
    SYNC_TIMESTAMP_KEY,
)
from oiofs.proxy.middleware.container_sync import filter_factory as sync_filter
from oiofs.proxy.middleware.gatekeeper import filter_factory as gatekeeper

PATH = "/v1/AUTH_b/c/obj"
STAMP = "1700000000.12345"


class ContainerApp:
    """Answers a HEAD of /v1/AUTH_b/c with its sync key; records every other request."""

    def __init__(self, sync_key="user-key"):
        self.sync_key = sync_key
        self.seen = []

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "HEAD" and environ["PATH_INFO"] == "/v1/AUTH_b/c":
            start_response("204 No Content", [("X-Container-Sync-Key", self.sync_key)])
            return []
        self.seen.append(environ)
        start_response("201 Created", [("Content-Length", "0")])
        return []


@pytest.fixture
def stack(tmp_path):
    (tmp_path / "container-sync-realms.conf").write_text(
        "[R]\nkey = realm-key\nkey2 = realm-key-2\ncluster_b = http://127.0.0.1:1/v1/\n")
    app = ContainerApp()
    conf = {"oiofs_dir": str(tmp_path)}
    return gatekeeper(conf)(sync_filter(conf)(app)), app


def call(wsgi, method="PUT", headers=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": PATH, "QUERY_STRING": "",
               "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status = {}

    def start_response(line, headers, exc_info=None):
        status["code"] = int(line.split()[0])

    body = b"".join(wsgi(environ, start_response))
    return status["code"], body


def signed(method="PUT", key="realm-key", nonce=None, stamp=STAMP, user_key="user-key"):
    nonce = nonce or make_nonce()
    return {"X-Container-Sync-Auth": f"R {nonce} "
            + get_sig(method, quote(PATH), stamp, nonce, key, user_key),
            "X-Timestamp": stamp}


@pytest.mark.parametrize("key", ["realm-key", "realm-key-2"])
def test_a_signed_put_keeps_the_senders_timestamp_and_slo_headers(stack, key):
    wsgi, app = stack
    headers = signed(key=key)
    headers.update({"X-Static-Large-Object": "True", "X-Object-Sysmeta-Slo-Etag": "abc"})
    status, _ = call(wsgi, headers=headers)
    assert status == 201
    environ = app.seen[-1]
    assert environ[SYNC_TIMESTAMP_KEY] == STAMP
    assert environ[AUTHORIZE_OVERRIDE_KEY] is True
    assert environ[BACKEND_HEADERS_KEY] == {"X-Static-Large-Object": "True",
                                            "X-Object-Sysmeta-Slo-Etag": "abc"}
    assert "HTTP_X_STATIC_LARGE_OBJECT" not in environ


@pytest.mark.parametrize("headers", [
    signed(key="other-key"),                                   # wrong realm key
    signed(user_key="other-user-key"),                         # wrong container key
    signed(method="DELETE"),                                   # signed for another verb
    signed(nonce=make_nonce(time.time() - 7200)),              # stale
    signed(nonce="f81d4fae7dec11d0a76500a0c91e6bf6"),          # no time in the nonce
    {"X-Container-Sync-Auth": "R onlytwo", "X-Timestamp": STAMP},
    {"X-Container-Sync-Auth": signed()["X-Container-Sync-Auth"]},  # no X-Timestamp
    {**signed(), "X-Timestamp": "1700000001.00000"},           # another timestamp
])
def test_bad_signatures_are_refused(stack, headers):
    wsgi, app = stack
    status, body = call(wsgi, headers=headers)
    assert status == 401
    assert b"X-Container-Sync-Auth header not valid" in body
    assert app.seen == []


def test_a_wrong_sync_key_is_an_ordinary_request(stack):
    wsgi, app = stack
    status, _ = call(wsgi, headers={"X-Container-Sync-Key": "wrong", "X-Timestamp": STAMP})
    assert status == 201
    assert SYNC_TIMESTAMP_KEY not in app.seen[-1]
    assert AUTHORIZE_OVERRIDE_KEY not in app.seen[-1]
    call(wsgi, headers={"X-Container-Sync-Key": "user-key", "X-Timestamp": STAMP})
    assert app.seen[-1][SYNC_TIMESTAMP_KEY] == STAMP


def test_requests_without_sync_headers_pass_untouched(stack):
    wsgi, app = stack
    call(wsgi, headers={"X-Timestamp": STAMP})
    assert SYNC_TIMESTAMP_KEY not in app.seen[-1]
