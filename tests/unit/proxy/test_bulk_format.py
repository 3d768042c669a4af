"""The bulk filter's formats and parsing (sans-IO)."""

import json

import pytest
from lxml import etree

from oiofs.proxy.middleware.bulk_format import (
    delete_names,
    member_path,
    outcome_status,
    output_format,
    result_body,
)


@pytest.mark.parametrize("accept, fmt", [
    (None, "text/plain"), ("*/*", "text/plain"), ("application/json", "application/json"),
    ("text/xml", "text/xml"), ("application/xml;q=0.9, application/json;q=0.1",
                               "application/xml"),
    ("image/png", None)])
def test_output_format(accept, fmt):
    assert output_format(accept) == fmt


def test_result_in_each_format():
    counts = {"Number Files Created": 2, "Response Status": "400 Bad Request",
              "Response Body": "<&>"}
    errors = [["/v1/a/c/x%20y", "413 Request Entity Too Large"]]
    doc = json.loads(result_body("application/json", "extract", counts, errors))
    assert doc == dict(counts, Errors=errors)
    root = etree.fromstring(result_body("application/xml", "extract", counts, errors))
    assert root.tag == "extract"
    assert root.findtext("number_files_created") == "2"
    assert root.findtext("response_body") == "<&>"
    assert root.findtext("errors/object/status") == "413 Request Entity Too Large"
    text = result_body("text/plain", "extract", counts, errors).decode()
    assert text.splitlines() == ["Number Files Created: 2", "Response Body: <&>",
                                 "Response Status: 400 Bad Request", "Errors:",
                                 "/v1/a/c/x%20y, 413 Request Entity Too Large"]


def test_outcome_status():
    assert outcome_status([], 3, "201 Created") == "201 Created"
    assert outcome_status([], 0, "201 Created") == "400 Bad Request"
    assert outcome_status([["/c/o", "409 Conflict"]], 3, "200 OK") == "400 Bad Request"
    assert outcome_status([["/c/o", "409 Conflict"], ["/c/p", "503 Service Unavailable"]],
                          0, "200 OK") == "502 Bad Gateway"


@pytest.mark.parametrize("base, name, path", [
    ("", "c/o", "c/o"), ("", "./c/d/o", "c/d/o"), ("", "/c/o", "c/o"),
    ("", "top-level-file", None), ("c", "o", "c/o"), ("c/pre", "d/o", "c/pre/d/o"),
    ("", "c/", None)])
def test_member_path(base, name, path):
    assert member_path(base, name) == path


def test_delete_names():
    body = [b"/c/a%20b\n", b"", b"  \n", b"c2\r", "/c/\u00e9".encode(), b"/c/%FF"]
    names = list(delete_names(line.rstrip(b"\n") for line in body))
    assert names[:3] == ["c/a b", "c2", "c/\u00e9"]
    assert names[3] == "c/\udcff"  # not UTF-8: kept (surrogate-escaped), to be reported
    assert len(names) == 4


def test_extraction_sends_keep_alive_spaces_while_it_works():
    """The bulk filter in front of a slow WSGI app: spaces come out between members, and
    eventlet is told to send them at once."""
    import io
    import tarfile
    import time

    from oiofs.proxy.middleware.bulk import Bulk

    stored = {}

    def slow_app(environ, start_response):
        if environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].count("/") > 3:
            time.sleep(0.6)  # a slow cluster (elapsed time is what the filter measures)
            stored[environ["PATH_INFO"]] = environ["wsgi.input"].read()
            start_response("201 Created", [])
        else:
            start_response("204 No Content", [])
        return [b""]

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for i in range(4):
            info = tarfile.TarInfo(f"f{i}")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"%02d" % i))
    body = archive.getvalue()
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/v1/AUTH_a/c",
               "QUERY_STRING": "extract-archive=tar", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "HTTP_ACCEPT": "application/json"}
    statuses = []
    chunks = list(Bulk(slow_app, {"yield_frequency": "1"})(
        environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"]
    assert environ["eventlet.minimum_write_chunk_size"] == 0
    assert b" " in chunks[:-1]
    assert json.loads(chunks[-1])["Number Files Created"] == 4
    assert stored["/v1/AUTH_a/c/f3"] == b"03"
