"""The minimal WSGI response."""

from oiofs.common.http.response import WsgiResponse


class Body:
    def __init__(self):
        self.closed = False

    def __iter__(self):
        return iter([b"abc"])

    def close(self):
        self.closed = True


def call(resp, method="GET"):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, headers

    body = b"".join(resp({"REQUEST_METHOD": method}, start_response))
    return seen["status"], dict(seen["headers"]), body


def test_bytes_body_gets_its_length():
    assert call(WsgiResponse(200, {"X-A": "b"}, b"hello")) == (
        "200 OK", {"X-A": "b", "Content-Length": "5"}, b"hello")


def test_head_sends_no_body_and_closes_iterables():
    body = Body()
    status, headers, sent = call(WsgiResponse(200, {"Content-Length": "3"}, body), "HEAD")
    assert (status, headers, sent) == ("200 OK", {"Content-Length": "3"}, b"")
    assert body.closed


def test_no_body_statuses():
    assert call(WsgiResponse(204, {}, b"")) == ("204 No Content", {}, b"")
    assert call(WsgiResponse(304, {"ETag": '"e"'}))[2] == b""


def test_iterable_body_is_passed_through():
    body = Body()
    resp = WsgiResponse(200, {"Content-Length": "3"}, body)
    assert call(resp)[2] == b"abc"
    assert not body.closed  # the WSGI server closes it after sending


def test_unusual_status_lines():
    assert call(WsgiResponse(499))[0] == "499 Client Disconnect"
    assert call(WsgiResponse(299))[0] == "299 Unknown"
