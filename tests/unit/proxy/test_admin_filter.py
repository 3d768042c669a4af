"""The proxy's admin filter: only allowed hosts, operations mapped, others passed on."""

import io
import json

from werkzeug.test import EnvironBuilder

from oiofs.common.live_config import LiveConfig, parse_log_level
from oiofs.proxy.info_cache import InfoCache
from oiofs.proxy.middleware.admin import AdminFilter


class SmallProxy:
    """What the filter uses of the proxy application (a verified fake: the functional
    tests run the real one)."""

    cached_container_info = None

    def __init__(self):
        self.level = "INFO"
        self.live_config = LiveConfig()
        self.live_config.add("log_level", parse_log_level, lambda: self.level,
                             lambda v: setattr(self, "level", v))
        self.account_cache = InfoCache()
        self.container_cache = InfoCache()
        self.live_config.on_event("flush_container_cache", self.container_cache.clear_local)
        self.live_config.on_event("flush_account_cache", self.account_cache.clear_local)

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Length", "6")])
        return [b"passed"]


def call(app, method="ADMIN", op=None, body=None, remote="127.0.0.1"):
    headers = {"X-Backend-Admin-Op": op} if op else {}
    data = json.dumps(body).encode() if body is not None else b""
    environ = EnvironBuilder(path="/", method=method, headers=headers,
                             input_stream=io.BytesIO(data),
                             content_length=len(data)).get_environ()
    environ["REMOTE_ADDR"] = remote
    seen = {}
    out = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    return int(seen["status"].split()[0]), out


def test_admin_only_from_allowed_hosts_and_other_verbs_pass():
    app = AdminFilter(SmallProxy(), {"allowed_hosts": "127.0.0.1"})
    assert call(app, op="info", remote="10.1.2.3")[0] == 403
    assert call(app, method="GET", remote="10.1.2.3") == (200, b"passed")
    status, body = call(app, op="info")
    assert status == 200 and json.loads(body)["type"] == "proxy-server"


def test_operations():
    proxy = SmallProxy()
    app = AdminFilter(proxy, {})
    proxy.container_cache.set("a/c", {"x": 1}, proxy.container_cache.generation("a/c"))
    status, body = call(app, op="cache_status")
    assert status == 200 and json.loads(body)["container"]["entries"] == 1
    assert call(app, op="flush_cache", body={"high": False})[0] == 200
    assert json.loads(call(app, op="cache_status")[1])["container"]["entries"] == 0
    status, body = call(app, op="set_config", body={"config": {"log_level": "error"}})
    assert status == 200 and proxy.level == "ERROR"
    assert call(app, op="set_config", body={"config": {"log_level": "loud"}})[0] == 400
    assert call(app, op="set_config", body=["not", "an", "object"])[0] == 400
    assert call(app, op="election_leave")[0] == 501
    assert call(app)[0] == 400  # no operation
