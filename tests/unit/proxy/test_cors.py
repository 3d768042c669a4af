"""CORS decisions: preflight answers and headers of actual responses."""

from oiofs.proxy.cors import CorsInfo, CorsPolicy

POLICY = CorsPolicy()
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"]


def test_preflight_allowed_origin():
    cors = CorsInfo(allow_origin="http://a.com http://b.com", max_age="600",
                    allow_headers="x-custom")
    headers = POLICY.preflight("http://b.com", "PUT", "X-Auth-Token, Content-Type", cors,
                               METHODS)
    assert headers["Access-Control-Allow-Origin"] == "http://b.com"
    assert headers["Access-Control-Max-Age"] == "600"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    allowed = headers["Access-Control-Allow-Headers"].split(", ")
    assert allowed == ["x-custom", "x-auth-token", "content-type"]


def test_preflight_refused():
    cors = CorsInfo(allow_origin="http://a.com")
    assert POLICY.preflight("http://evil.com", "GET", None, cors, METHODS) is None
    assert POLICY.preflight("http://a.com", None, None, cors, METHODS) is None
    assert POLICY.preflight("http://a.com", "PATCH", None, cors, METHODS) is None
    assert POLICY.preflight("http://a.com", "GET", None, None, METHODS) is None


def test_preflight_wildcard():
    headers = POLICY.preflight("http://x.com", "GET", None, CorsInfo(allow_origin="*"),
                               METHODS)
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_operator_allowed_origins():
    policy = CorsPolicy(frozenset({"http://ops.com"}), ("x-extra",))
    assert policy.preflight("http://ops.com", "GET", None, None, METHODS) is not None
    headers = dict(policy.response_headers("http://ops.com", None, []))
    assert "x-extra" in headers["Access-Control-Expose-Headers"]


def test_actual_response_headers():
    cors = CorsInfo(allow_origin="http://a.com", expose_headers="x-foo X-Bar")
    headers = dict(POLICY.response_headers("http://a.com", cors,
                                           ["Content-Length", "X-Object-Meta-Color"]))
    assert headers["Access-Control-Allow-Origin"] == "http://a.com"
    assert headers["Vary"] == "Origin"
    exposed = headers["Access-Control-Expose-Headers"].split(", ")
    for name in ("etag", "x-trans-id", "x-object-meta-color", "x-foo", "x-bar"):
        assert name in exposed
    assert POLICY.response_headers("http://other.com", cors, []) == []


def test_from_meta():
    info = CorsInfo.from_meta({"access-control-allow-origin": "*",
                               "access-control-max-age": "5"})
    assert info.allow_origin == "*" and info.max_age == "5" and info.expose_headers is None
