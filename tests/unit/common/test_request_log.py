"""RequestLog, the WSGI layer around every server: what it hands the WSGI server back, and
the access line it writes once the answer is sent."""

import io

from oiofs.common.access_log import TRANS_ID_KEY, parse_access_line
from oiofs.common.logger import get_logger
from oiofs.common.metrics import Metrics
from oiofs.common.request_log import RequestLog, proxy_request_type


def wrapped(app, tmp_path, server_type="object", route="request-log"):
    log_file = tmp_path / f"{route}.log"
    logger = get_logger({"log_file": str(log_file)}, log_route=route)
    return RequestLog(app, {}, logger, Metrics(server_type), server_type), log_file


def call(app, environ):
    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))

    body = app(environ, start_response)
    return started, body


def environ(**extra):
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/d1/3/a/c/o", "QUERY_STRING": "",
           "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
           "wsgi.input": io.BytesIO(b""), "HTTP_X_TRANS_ID": "txgiven"}
    env.update(extra)
    return env


def test_a_complete_answer_stays_a_list(tmp_path):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"hello", b" world"]

    log, log_file = wrapped(app, tmp_path)
    _, body = call(log, environ())
    # eventlet sets Content-Length (and closes after an early answer to a 100-continue
    # request) only for a body that has a length
    assert isinstance(body, list) and len(body) == 2
    assert log_file.read_text() == ""  # nothing before the answer is sent
    body.close()
    body.close()  # closing twice writes one line
    [line] = log_file.read_text().splitlines()
    fields = parse_access_line(line)
    assert fields["status"] == "200" and fields["bytes_sent"] == "11"
    assert fields["trans_id"] == "txgiven"


def test_a_streamed_answer_is_counted_as_sent(tmp_path):
    closed = []

    class Body:
        def __iter__(self):
            yield b"x" * 10
            yield b"y" * 5

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("206 Partial Content", [])
        return Body()

    log, log_file = wrapped(app, tmp_path, route="request-log-stream")
    _, body = call(log, environ())
    assert b"".join(body) == b"x" * 10 + b"y" * 5
    body.close()
    assert closed == [True]
    fields = parse_access_line(log_file.read_text())
    assert fields["status"] == "206" and fields["bytes_sent"] == "15"


def test_the_proxy_makes_the_trans_id(tmp_path):
    seen = []

    def app(environ, start_response):
        seen.append(environ[TRANS_ID_KEY])
        start_response("204 No Content", [])
        return []

    log, log_file = wrapped(app, tmp_path, server_type="proxy", route="request-log-proxy")
    _, body = call(log, environ(PATH_INFO="/v1/AUTH_a/c", HTTP_X_TRANS_ID="txfromclient"))
    body.close()
    assert seen[0].startswith("tx") and seen[0] != "txfromclient"
    assert parse_access_line(log_file.read_text())["trans_id"] == seen[0]


def test_proxy_request_types():
    assert [proxy_request_type(p) for p in ("/v1/a", "/v1/a/", "/v1/a/c", "/v1/a/c/o/p",
                                            "/auth/v1.0", "/v1")] == \
        ["account", "account", "container", "object", "other", "other"]
