"""tempauth: the token endpoint and the authorization rules (Swift's 401/403 matrix)."""

import io
import json
import time

import pytest

from oiofs.common.exceptions import HTTPForbidden, HTTPUnauthorized
from oiofs.proxy.acl import parse_account_acl
from oiofs.proxy.controllers.base import ACCOUNT_ACL_KEY, AUTHORIZE_KEY
from oiofs.proxy.middleware.tempauth import TempAuth, filter_factory
from oiofs.proxy.middleware.tokens import TokenSigner
from oiofs.proxy.request import ProxyRequest

CONF = {
    "token_secret": "unit-secret",
    "user_test_tester": "testing .admin",
    "user_test_tester3": "testing3",
    "user_test2_tester2": "testing2 .admin",
    "user_admin_admin": "admin .admin .reseller_admin",
    "user_ext_user": "pw .admin https://storage.example.com/v1/AUTH_ext",
}


def downstream(environ, start_response):
    """The next WSGI app: records what tempauth left in the environ."""
    downstream.seen = environ
    start_response("200 OK", [("Content-Length", "0")])
    return []


@pytest.fixture
def auth():
    return filter_factory({}, **CONF)(downstream)


def call(app, path, method="GET", _env=None, **headers):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.url_scheme": "http",
               "HTTP_HOST": "proxy.example.com:8080", "wsgi.input": io.BytesIO(b"")}
    environ.update(_env or {})
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    result = {}

    def start_response(status, headers):
        result["status"] = int(status.split()[0])
        result["headers"] = dict(headers)

    body = b"".join(app(environ, start_response))
    return result.get("status"), result.get("headers"), body, environ


def get_token(app, user, key, path="/auth/v1.0"):
    status, headers, body, _ = call(app, path, X_AUTH_USER=user, X_AUTH_KEY=key)
    assert status == 200, body
    return headers


@pytest.mark.parametrize("path", ["/auth/v1.0", "/auth/v1.0/", "/v1.0"])
def test_token_endpoint(auth, path):
    headers = get_token(auth, "test:tester", "testing", path)
    assert headers["X-Auth-Token"].startswith("AUTH_tk")
    assert headers["X-Storage-Token"] == headers["X-Auth-Token"]
    assert headers["X-Storage-Url"] == "http://proxy.example.com:8080/v1/AUTH_test"
    assert 86390 <= int(headers["X-Auth-Token-Expires"]) <= 86400
    assert headers["X-Trans-Id"].startswith("tx")


def test_token_endpoint_v1_account_form(auth):
    status, headers, _, _ = call(auth, "/auth/v1/test/auth", X_AUTH_USER="tester",
                                 X_AUTH_KEY="testing")
    assert status == 200
    status, _, _, _ = call(auth, "/auth/v1/test2/auth", X_AUTH_USER="test:tester",
                           X_AUTH_KEY="testing")
    assert status == 401


def test_storage_user_headers_and_fixed_url(auth):
    status, headers, body, _ = call(auth, "/auth/v1.0", X_STORAGE_USER="ext:user",
                                    X_STORAGE_PASS="pw")
    assert status == 200
    assert headers["X-Storage-Url"] == "https://storage.example.com/v1/AUTH_ext"
    assert json.loads(body)["storage"]["local"] == headers["X-Storage-Url"]


@pytest.mark.parametrize("user, key", [("test:tester", "wrong"), ("nobody:x", "testing"),
                                       ("test:tester", None), (None, None)])
def test_bad_credentials(auth, user, key):
    headers = {}
    if user:
        headers["X_AUTH_USER"] = user
    if key:
        headers["X_AUTH_KEY"] = key
    status, _, _, _ = call(auth, "/auth/v1.0", **headers)
    assert status == 401


def test_valid_token_sets_user(auth):
    token = get_token(auth, "test:tester", "testing")["X-Auth-Token"]
    status, _, _, environ = call(auth, "/v1/AUTH_test", X_AUTH_TOKEN=token)
    assert status == 200
    assert environ["REMOTE_USER"] == "test,test:tester,AUTH_test"
    assert environ[AUTHORIZE_KEY] == auth.authorize


def test_expired_and_forged_tokens(auth):
    signer = TokenSigner("unit-secret")
    expired = signer.make("test:tester", "testing", int(time.time()) - 1)
    forged = TokenSigner("guess").make("test:tester", "testing", int(time.time()) + 100)
    for token in (expired, forged, "AUTH_tkgarbage"):
        assert auth.user_of_token(token) is None
        _, _, _, environ = call(auth, "/v1/AUTH_test", X_AUTH_TOKEN=token)
        assert "REMOTE_USER" not in environ
        with pytest.raises(HTTPUnauthorized):
            environ[AUTHORIZE_KEY](ProxyRequest(environ, "tx"), ".r:*")


def test_cached_token_expires(auth):
    now = time.time()
    token = TokenSigner("unit-secret").make("test:tester", "testing", int(now) + 10)
    assert auth.user_of_token(token, now=now) is not None
    assert auth.user_of_token(token, now=now + 11) is None


def test_remote_user_from_elsewhere_is_ignored(auth):
    # Only a valid token names a user, whatever an earlier layer put in the environ.
    _, _, _, environ = call(auth, "/v1/AUTH_test",
                            _env={"REMOTE_USER": "test,test:tester,AUTH_test"})
    assert "REMOTE_USER" not in environ
    _, _, _, environ = call(auth, "/v1/AUTH_test", X_AUTH_TOKEN="AUTH_tkbad",
                            _env={"REMOTE_USER": "test,test:tester,AUTH_test"})
    assert "REMOTE_USER" not in environ


# --- the authorization matrix ------------------------------------------------------------

def request(auth, user_key, method, path, referer=None):
    headers = {}
    if user_key:
        headers["X_AUTH_TOKEN"] = get_token(auth, *user_key)["X-Auth-Token"]
    if referer:
        headers["REFERER"] = referer
    _, _, _, environ = call(auth, path, method, **headers)
    environ["REQUEST_METHOD"] = method
    return ProxyRequest(environ, "tx")


def outcome(auth, user_key, method, path, acl=None, referer=None):
    req = request(auth, user_key, method, path, referer)
    try:
        req.environ[AUTHORIZE_KEY](req, acl)
    except HTTPUnauthorized:
        return 401
    except HTTPForbidden:
        return 403
    return "owner" if req.owner else "ok"


OWNER = ("test:tester", "testing")
MEMBER = ("test:tester3", "testing3")
OTHER = ("test2:tester2", "testing2")
RESELLER = ("admin:admin", "admin")


@pytest.mark.parametrize("who, method, path, acl, expected", [
    (OWNER, "GET", "/v1/AUTH_test", None, "owner"),
    (OWNER, "POST", "/v1/AUTH_test", None, "owner"),
    (OWNER, "PUT", "/v1/AUTH_test", None, 403),        # account PUT: resellers only
    (OWNER, "PUT", "/v1/AUTH_test/c", None, "owner"),
    (OWNER, "GET", "/v1/AUTH_test2/c/o", None, 403),
    (RESELLER, "PUT", "/v1/AUTH_test", None, "owner"),
    (RESELLER, "GET", "/v1/AUTH_test2/c/o", None, "owner"),
    (MEMBER, "GET", "/v1/AUTH_test", None, 403),
    (MEMBER, "POST", "/v1/AUTH_test", None, 403),       # no account metadata for members
    (MEMBER, "GET", "/v1/AUTH_test/c/o", None, 403),
    (MEMBER, "GET", "/v1/AUTH_test/c/o", "test:tester3", "ok"),
    (MEMBER, "PUT", "/v1/AUTH_test/c/o", "test", "ok"),   # whole-account grant
    (OTHER, "GET", "/v1/AUTH_test/c/o", "test2", "ok"),
    (OTHER, "GET", "/v1/AUTH_test/c/o", "test:tester3", 403),
    (None, "GET", "/v1/AUTH_test/c/o", None, 401),
    (None, "GET", "/v1/AUTH_test/c/o", ".r:*", "ok"),
    (None, "GET", "/v1/AUTH_test/c", ".r:*", 401),       # listing needs .rlistings
    (None, "GET", "/v1/AUTH_test/c", ".r:*,.rlistings", "ok"),
    (None, "GET", "/v1/AUTH_test/c/o", ".r:example.com", 401),
    (OTHER, "GET", "/v1/AUTH_test/c", ".r:*", 403),      # a user: 403, not 401
    (None, "GET", "/v1/OTHER_test/c/o", ".r:*", 401),    # not our reseller prefix
])
def test_authorization_matrix(auth, who, method, path, acl, expected):
    assert outcome(auth, who, method, path, acl) == expected


def test_referrer_grants(auth):
    acl = ".r:.example.com,.r:-bad.example.com"
    assert outcome(auth, None, "GET", "/v1/AUTH_test/c/o", acl,
                   "http://www.example.com/page") == "ok"
    assert outcome(auth, None, "GET", "/v1/AUTH_test/c/o", acl,
                   "http://bad.example.com/page") == 401


def test_no_secret_still_works_within_a_process():
    app = TempAuth(downstream, {"user_a_b": "k .admin"})
    token = get_token(app, "a:b", "k")["X-Auth-Token"]
    assert app.user_of_token(token) == "a,a:b,AUTH_a"


def test_info_registered(auth):
    from oiofs.proxy.controllers.info import _REGISTRY

    assert _REGISTRY["tempauth"]["account_acls"] is True


# --- account ACLs --------------------------------------------------------------------------

def account_acl_outcome(auth, user_key, method, path, account_acl, acl=None):
    """Like :func:`outcome`, with the account ACL a controller would hand over."""
    req = request(auth, user_key, method, path)
    asked = []

    def lookup(account):
        asked.append(account)
        return parse_account_acl(json.dumps(account_acl))

    req.environ[ACCOUNT_ACL_KEY] = lookup
    try:
        req.environ[AUTHORIZE_KEY](req, acl)
    except HTTPUnauthorized:
        return 401
    except HTTPForbidden:
        return 403
    return "owner" if req.owner else "ok"


@pytest.mark.parametrize("who, method, path, account_acl, expected", [
    (MEMBER, "GET", "/v1/AUTH_test", {"read-only": ["test:tester3"]}, "ok"),
    (MEMBER, "HEAD", "/v1/AUTH_test/c/o", {"read-only": ["test:tester3"]}, "ok"),
    (MEMBER, "PUT", "/v1/AUTH_test/c/o", {"read-only": ["test:tester3"]}, 403),
    (MEMBER, "POST", "/v1/AUTH_test", {"read-write": ["test:tester3"]}, 403),
    (MEMBER, "PUT", "/v1/AUTH_test/c", {"read-write": ["test:tester3"]}, "ok"),
    (MEMBER, "DELETE", "/v1/AUTH_test/c/o", {"read-write": ["test:tester3"]}, "ok"),
    (MEMBER, "POST", "/v1/AUTH_test", {"admin": ["test:tester3"]}, "owner"),
    (OTHER, "GET", "/v1/AUTH_test/c", {"read-only": ["test2"]}, "ok"),
    (OTHER, "GET", "/v1/AUTH_test/c", {"read-only": ["test:tester3"]}, 403),
    (None, "GET", "/v1/AUTH_test/c", {"read-only": ["test"]}, 401),
])
def test_account_acl_matrix(auth, who, method, path, account_acl, expected):
    assert account_acl_outcome(auth, who, method, path, account_acl) == expected


def test_account_acl_is_read_only_when_needed(auth):
    req = request(auth, OWNER, "GET", "/v1/AUTH_test")

    def lookup(account):
        raise AssertionError("the owner needs no account ACL")

    req.environ[ACCOUNT_ACL_KEY] = lookup
    req.environ[AUTHORIZE_KEY](req, None)
    assert req.owner
