"""The one request body reader: what it reads, and its one error mapping (408/499)."""

import io

import pytest

from oiofs.common.exceptions import HTTPClientDisconnect, HTTPRequestTimeout
from oiofs.common.http.body import RequestBody


class Failing(io.RawIOBase):
    """A wsgi.input that hands out ``data`` and then raises ``error``."""

    def __init__(self, data: bytes, error: BaseException):
        self.data = data
        self.error = error

    def read(self, size=-1):
        if self.data:
            out, self.data = self.data[:size], self.data[size:]
            return out
        raise self.error


def test_reads_no_further_than_its_length():
    body = RequestBody(io.BytesIO(b"0123456789next request"), 10)
    assert b"".join(body.chunks(3)) == b"0123456789"
    assert body.read(5) == b"" and body.received == 10


def test_chunked_reads_to_the_end():
    body = RequestBody(io.BytesIO(b"x" * 1000), None)
    assert [len(c) for c in body.chunks(400)] == [400, 400, 200]


def test_short_body_is_a_client_disconnect():
    body = RequestBody(io.BytesIO(b"abc"), 10)
    with pytest.raises(HTTPClientDisconnect):
        list(body.chunks(64))
    with pytest.raises(HTTPClientDisconnect):
        RequestBody(io.BytesIO(b"abc"), 10).read_exact(10)


@pytest.mark.parametrize("error, status", [
    (TimeoutError("slow"), 408),
    (ConnectionResetError("gone"), 499),
    (OSError("gone"), 499),
    (ValueError("invalid literal for int() with base 16"), 499),  # eventlet ChunkReadError
])
def test_one_error_mapping(error, status):
    body = RequestBody(Failing(b"abc", error), None)
    assert body.read(3) == b"abc"
    with pytest.raises((HTTPRequestTimeout, HTTPClientDisconnect)) as caught:
        body.read(3)
    assert caught.value.status == status
