"""No body ever follows the headers of a HEAD, 1xx, 204 or 304 answer."""

import pytest

from oiofs.common.http.bodiless import body_forbidden, without_forbidden_bodies


class Body:
    """A body that records whether it was read and closed."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.read = False
        self.closed = False

    def __iter__(self):
        self.read = True
        return iter(self.chunks)

    def close(self):
        self.closed = True


def run(app, method):
    started = []
    result = without_forbidden_bodies(app)({"REQUEST_METHOD": method},
                                           lambda s, h, e=None: started.append(s))
    chunks = list(result)
    getattr(result, "close", lambda: None)()
    return started[0], b"".join(chunks)


@pytest.mark.parametrize("method, status, expected", [
    ("HEAD", "404 Not Found", b""), ("HEAD", "200 OK", b""), ("GET", "204 No Content", b""),
    ("GET", "304 Not Modified", b""), ("GET", "404 Not Found", b"Not Found"),
    ("PUT", "201 Created", b"Not Found"),
])
def test_eager_apps(method, status, expected):
    body = Body([b"Not ", b"Found"])

    def app(environ, start_response):
        start_response(status, [("Content-Length", "9")])
        return body

    assert run(app, method) == (status, expected)
    assert body.closed
    if not expected:
        assert not body.read  # closed unread, never iterated


@pytest.mark.parametrize("method, status, expected", [
    ("HEAD", "404 Not Found", b""), ("GET", "204 No Content", b""),
    ("GET", "200 OK", b"lazy body"),
])
def test_lazy_apps(method, status, expected):
    def app(environ, start_response):
        start_response(status, [])
        yield b"lazy "
        yield b"body"

    assert run(app, method) == (status, expected)


def test_body_forbidden():
    assert body_forbidden("HEAD", 200) and body_forbidden("GET", 304)
    assert body_forbidden("GET", 100) and body_forbidden("POST", 204)
    assert not body_forbidden("GET", 200) and not body_forbidden("GET", 404)
