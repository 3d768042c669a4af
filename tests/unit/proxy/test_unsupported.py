"""Requests asking for features oiofs has not built are refused, not silently stored."""

import pytest

from oiofs.common.exceptions import HTTPNotImplemented
from oiofs.proxy.unsupported import UNSUPPORTED_HEADERS, refuse_unsupported


@pytest.mark.parametrize("key", sorted(UNSUPPORTED_HEADERS))
@pytest.mark.parametrize("method", ["PUT", "POST", "COPY"])
def test_feature_headers_on_writes_are_refused(key, method):
    with pytest.raises(HTTPNotImplemented) as caught:
        refuse_unsupported({"REQUEST_METHOD": method, key: "somewhere"})
    assert "not available" in caught.value.description


@pytest.mark.parametrize("environ", [
    {"REQUEST_METHOD": "GET", "HTTP_X_VERSIONS_LOCATION": "v"},      # reads carry no setting
    {"REQUEST_METHOD": "POST", "HTTP_X_VERSIONS_LOCATION": ""},      # empty removes it
    {"REQUEST_METHOD": "POST", "HTTP_X_REMOVE_VERSIONS_LOCATION": "x"},
    {"REQUEST_METHOD": "PUT", "HTTP_X_CONTAINER_META_COLOR": "blue"},
    {"REQUEST_METHOD": "GET", "QUERY_STRING": "format=json&prefix=versions"},
    {"REQUEST_METHOD": "PUT", "QUERY_STRING": "multipart-manifest=put"},
    {"REQUEST_METHOD": "HEAD", "QUERY_STRING": "symlink=get"},  # swift delete sends it
])
def test_ordinary_requests_pass(environ):
    assert refuse_unsupported(environ) is None


@pytest.mark.parametrize("query", ["versions", "version-id=1", "a=1&versions"])
def test_feature_parameters_are_refused(query):
    with pytest.raises(HTTPNotImplemented):
        refuse_unsupported({"REQUEST_METHOD": "GET", "QUERY_STRING": query})
