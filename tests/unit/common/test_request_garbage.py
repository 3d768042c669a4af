"""A request leaves no reference cycle behind: its environ, headers and input go as soon
as it is answered, not at the cyclic garbage collector's next pass (which cost every
server tens of microseconds per request)."""

import io
import types

from oiofs.common.base_app import BaseServerApp
from oiofs.common.http.response import WsgiResponse
from oiofs.proxy.container_info import AccountInfo
from oiofs.proxy.controllers.base import ACCOUNT_ACL_KEY, AUTHORIZE_KEY, Controller
from oiofs.proxy.info_cache import InfoCache
from oiofs.proxy.request import ProxyRequest
from tests.support.garbage import cyclic_garbage


class Server(BaseServerApp):
    allowed_methods = frozenset(["PUT"])

    def PUT(self, req):
        assert req.headers.get("X-Timestamp") == "1.00000"
        return WsgiResponse(201)


def test_storage_server_request(tmp_path):
    app = Server({"devices": str(tmp_path)})

    def work():
        for _ in range(3):
            environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/d/1/a/c/o",
                       "HTTP_X_TIMESTAMP": "1.00000", "wsgi.input": io.BytesIO(b"")}
            assert b"".join(app(environ, lambda *a: None)) == b""

    assert cyclic_garbage(work) == []


def test_proxy_authorize_offers_the_account_acl_then_takes_it_back():
    asked = []
    proxy = types.SimpleNamespace(backend=None, options=None, account_cache=InfoCache())
    cache = proxy.account_cache
    cache.set("AUTH_a", AccountInfo(204), cache.generation("AUTH_a"))
    controller = Controller(proxy)

    def authorize(req, acl, target, method):
        asked.append(req.environ[ACCOUNT_ACL_KEY]("AUTH_a"))  # usable while authorizing

    def work():
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/AUTH_a/c/o",
                   AUTHORIZE_KEY: authorize}
        controller.authorize(ProxyRequest(environ, "tx1"))
        assert ACCOUNT_ACL_KEY not in environ

    assert cyclic_garbage(work) == []
    assert len(asked) == 1
