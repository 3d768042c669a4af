"""The gatekeeper filter: internal headers are removed both ways, others pass."""

from oiofs.proxy.middleware.gatekeeper import filter_factory, is_internal_header


def call(headers_in, headers_out):
    seen = {}

    def downstream(environ, start_response):
        seen.update(environ)
        start_response("200 OK", list(headers_out))
        return [b"x"]

    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["headers"] = headers

    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/v1/AUTH_a/c/o"}
    environ.update(headers_in)
    body = b"".join(filter_factory({})(downstream)(environ, start_response))
    return seen, answer["headers"], body


def test_inbound_internal_headers_are_removed():
    seen, _, _ = call({"HTTP_X_BACKEND_STORAGE_POLICY_INDEX": "1",
                       "HTTP_X_OBJECT_SYSMETA_SLO_SIZE": "9",
                       "HTTP_X_CONTAINER_SYSMETA_X": "1", "HTTP_X_ACCOUNT_SYSMETA_Y": "1",
                       "HTTP_X_OBJECT_TRANSIENT_SYSMETA_Z": "1",
                       "HTTP_X_TIMESTAMP": "1.00000",
                       "HTTP_X_OBJECT_META_COLOR": "red", "HTTP_X_AUTH_TOKEN": "t"}, [])
    assert not [k for k in seen if "BACKEND" in k or "SYSMETA" in k]
    assert "HTTP_X_TIMESTAMP" not in seen
    assert seen["HTTP_X_OBJECT_META_COLOR"] == "red"
    assert seen["HTTP_X_AUTH_TOKEN"] == "t"


def test_outbound_internal_headers_are_removed():
    _, headers, body = call({}, [("X-Backend-Timestamp", "1"), ("x-object-sysmeta-a", "b"),
                                 ("X-Container-Sysmeta-Q", "1"), ("Etag", "e"),
                                 ("X-Object-Meta-Color", "red")])
    assert headers == [("Etag", "e"), ("X-Object-Meta-Color", "red")]
    assert body == b"x"


def test_is_internal_header():
    assert is_internal_header("X-OBJECT-TRANSIENT-SYSMETA-crypto")
    assert not is_internal_header("X-Backendish")
    assert not is_internal_header("X-Container-Meta-Temp-URL-Key")
