"""The access line: its fields, quoting, and the parser the tests and docs use."""

import re

import pytest

from oiofs.common.access_log import (
    ACCESS_FIELDS,
    LOG_CONTEXT_KEY,
    access_line,
    new_trans_id,
    note_policy,
    parse_access_line,
)


def environ(**extra):
    env = {"REMOTE_ADDR": "10.0.0.9", "REQUEST_METHOD": "PUT",
           "PATH_INFO": "/v1/AUTH_test/c/o", "QUERY_STRING": "",
           "SERVER_PROTOCOL": "HTTP/1.1"}
    env.update(extra)
    return env


def test_every_field_in_order():
    line = access_line(environ(HTTP_USER_AGENT="oiofs-client/1.0", HTTP_REFERER="http://x/",
                               HTTP_ETAG="abc", HTTP_X_AUTH_TOKEN="AUTH_tksecret"),
                       201, 1234, 0, 1700000000.5, 1700000001.75, "txabc-123", 1)
    tokens = line.split(" ")
    assert len(tokens) == len(ACCESS_FIELDS) == 21
    fields = dict(zip(ACCESS_FIELDS, tokens, strict=True))
    assert fields == {
        "client_ip": "10.0.0.9", "remote_addr": "10.0.0.9",
        "datetime": "14/Nov/2023/22/13/21", "method": "PUT", "path": "/v1/AUTH_test/c/o",
        "protocol": "HTTP/1.1", "status": "201", "referer": "http://x/",
        "user_agent": "oiofs-client/1.0", "auth_token": "-", "bytes_recvd": "1234",
        "bytes_sent": "0", "client_etag": "abc", "trans_id": "txabc-123", "headers": "-",
        "request_time": "1.2500", "source": "-", "log_info": "-",
        "start_time": "1700000000.500000000", "end_time": "1700000001.750000000",
        "policy_index": "1"}
    assert "secret" not in line  # tokens are never logged


def test_free_text_is_one_token_and_comes_back_decoded():
    raw_path = "/v1/AUTH_test/c/d é \"q\" %25"
    env = environ(PATH_INFO=raw_path.encode("utf-8").decode("latin-1"),
                  QUERY_STRING="prefix=a%20b&x=1", HTTP_USER_AGENT='a "b"\\c',
                  HTTP_X_FORWARDED_FOR="192.0.2.7, 10.0.0.1")
    line = access_line(env, 200, 0, 5, 1.0, 2.0, None, None)
    assert len(line.split(" ")) == 21
    assert re.fullmatch(r"[!-~ ]+", line)  # printable ASCII only: no line breaks either
    fields = parse_access_line("2026-12-05 11:00:00,000 proxy-server[1] INFO " + line)
    assert fields["path"] == raw_path + "?prefix=a%20b&x=1"
    assert fields["user_agent"] == 'a "b"\\c'
    assert fields["client_ip"] == "192.0.2.7" and fields["remote_addr"] == "10.0.0.9"
    assert fields["trans_id"] is None and fields["policy_index"] is None


def test_a_newline_cannot_forge_a_line():
    env = environ(HTTP_USER_AGENT="x\n2026-12-05 fake INFO line")
    assert "\n" not in access_line(env, 200, 0, 0, 1.0, 2.0, "tx1", None)


def test_parse_refuses_what_is_not_an_access_line():
    with pytest.raises(ValueError):
        parse_access_line("2026-12-05 proxy-server[1] WARNING node down")


def test_trans_ids_are_swift_shaped_and_unique():
    ids = {new_trans_id() for _ in range(1000)}
    assert len(ids) == 1000
    for trans_id in list(ids)[:10]:
        assert re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", trans_id)
    assert new_trans_id("-east").endswith("-east")


def test_policy_noted_through_shallow_copies_of_the_environ():
    env = environ(**{LOG_CONTEXT_KEY: {}})
    note_policy(dict(env), 3)  # what a middleware passing a copy down does
    assert env[LOG_CONTEXT_KEY] == {"policy_index": 3}
    note_policy(environ(), 3)  # no context (no access log around): nothing happens
