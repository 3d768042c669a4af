"""The healthcheck filter: OK, disabled by a file, and out of the way of other paths."""

from oiofs.proxy.middleware.healthcheck import filter_factory


def downstream(environ, start_response):
    start_response("204 No Content", [])
    return []


def call(app, path, method="GET"):
    result = {}

    def start_response(status, headers):
        result["status"] = status
        result["headers"] = dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return result["status"], result["headers"], body


def test_ok_and_disabled(tmp_path):
    flag = tmp_path / "disabled"
    app = filter_factory({}, disable_path=str(flag))(downstream)
    status, headers, body = call(app, "/healthcheck")
    assert (status, body) == ("200 OK", b"OK")
    assert headers["X-Trans-Id"].startswith("tx")
    flag.write_text("")
    status, _, body = call(app, "/healthcheck")
    assert (status, body) == ("503 Service Unavailable", b"DISABLED BY FILE")
    assert call(app, "/healthcheck", "HEAD")[2] == b""


def test_other_paths_pass_through():
    app = filter_factory({})(downstream)
    assert call(app, "/v1/AUTH_test")[0] == "204 No Content"
    assert call(app, "/healthcheck/more")[0] == "204 No Content"
