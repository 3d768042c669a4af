"""Request bodies: lengths, replays, MD5; credentials and tokens; error classes."""

import hashlib
import io

import pytest

from oiofs.client.auth import Credentials, token_from_answer
from oiofs.client.body import request_body
from oiofs.client.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    ServerError,
    ServiceUnavailable,
    status_error,
)
from oiofs.client.segments import FileSlice, plan, slo_etag


def test_bytes_and_files_are_replayable_with_a_length(tmp_path):
    body = request_body(b"abc", md5=True)
    assert body.length == 3 and body.replayable
    assert b"".join(body.chunks()) == b"abc" and body.md5 == hashlib.md5(b"abc").hexdigest()
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as f:
        f.seek(4)
        body = request_body(f)
        assert body.length == 6 and body.replayable
        assert b"".join(body.chunks()) == b"456789"
        assert b"".join(body.chunks(restart=True)) == b"456789"


def test_iterators_go_once_and_chunked():
    body = request_body(iter([b"a", "é"]))
    assert body.length is None and not body.replayable
    assert b"".join(body.chunks()) == "aé".encode()
    with pytest.raises(ValueError):
        list(body.chunks(restart=True))


def test_callables_are_replayable():
    body = request_body(lambda: [b"x", b"y"], length=2)
    assert body.replayable and b"".join(body.chunks()) == b"".join(body.chunks()) == b"xy"


def test_unseekable_file_is_streamed_chunked():
    class Pipe(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            return 0
    body = request_body(Pipe())
    assert body.length is None and not body.replayable


def test_wrong_length_for_bytes_refused():
    with pytest.raises(ValueError):
        request_body(b"abc", length=4)
    with pytest.raises(TypeError):
        request_body(42)


def test_file_slice_and_plan(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    with open(path, "rb") as f:
        part = FileSlice(f.fileno(), 10, 20)
        assert part.read(5) == bytes(range(10, 15)) and part.read() == bytes(range(15, 30))
        part.seek(0)
        assert request_body(part, length=20).length == 20
    assert plan(25, 10) == [(0, 10), (10, 10), (20, 5)]
    with pytest.raises(ValueError):
        plan(10_000, 1)  # more segments than a manifest takes
    assert slo_etag(["a", "b"]) == hashlib.md5(b"ab").hexdigest()


def test_credentials_from_env():
    env = {"ST_AUTH": "http://h/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k"}
    assert Credentials.from_env(env) == Credentials("http://h/auth/v1.0", "a:b", "k")
    env.update(OIOFS_AUTH_URL="http://o/auth", OIOFS_USER="x:y", OIOFS_KEY="z")
    assert Credentials.from_env(env).auth_url == "http://o/auth"
    assert "z" not in repr(Credentials.from_env(env))
    with pytest.raises(ConfigurationError):
        Credentials.from_env({"OIOFS_AUTH_URL": "http://o/auth"})


def test_token_from_answer():
    token = token_from_answer(200, {"x-storage-url": "http://h/v1/A", "x-auth-token": "t",
                                    "x-auth-token-expires": "100"}, "u", now=50.0)
    assert token.value == "t" and token.expires == 150.0
    assert token.fresh(now=100.0) and not token.fresh(now=140.0)
    with pytest.raises(AuthenticationFailed):
        token_from_answer(401, {}, "u")
    with pytest.raises(AuthenticationFailed):
        token_from_answer(200, {"x-auth-token": "t"}, "u")


def test_status_errors_are_typed():
    err = status_error(404, "Not Found", "GET", "http://h/v1/A/c", {"x-trans-id": "tx1"},
                       b"gone")
    assert isinstance(err, NotFound) and err.trans_id == "tx1" and err.body == b"gone"
    assert "tx1" in str(err) and "404" in str(err)
    assert isinstance(status_error(503), ServiceUnavailable)
    assert type(status_error(507)) is ServerError
    assert status_error(418).status == 418
