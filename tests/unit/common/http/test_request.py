"""ServerRequest's header view answers as werkzeug's EnvironHeaders does."""

import pytest
from werkzeug.datastructures import EnvironHeaders

from oiofs.common.http.request import EnvironHeaderView, ServerRequest

ENVIRON = {
    "REQUEST_METHOD": "PUT", "PATH_INFO": "/d/1/a/c/o", "CONTENT_LENGTH": "12",
    "CONTENT_TYPE": "", "HTTP_X_TIMESTAMP": "1700000000.00000", "HTTP_X_OBJECT_META_A": "\xc3\xa9",
    "HTTP_IF_NONE_MATCH": "*", "HTTP_X_DELETE_AT": "",
}
NAMES = ["X-Timestamp", "x-timestamp", "X_TIMESTAMP", "Content-Length", "content-type",
         "X-Object-Meta-A", "If-None-Match", "X-Delete-At", "X-Delete-After", "ETag",
         "Content_Length", "HTTP-X-Timestamp"]


@pytest.mark.parametrize("name", NAMES)
def test_same_answers_as_werkzeug(name):
    ours, theirs = EnvironHeaderView(ENVIRON), EnvironHeaders(ENVIRON)
    assert ours.get(name) == theirs.get(name)
    assert ours.get(name, "dflt") == theirs.get(name, "dflt")
    assert ours.get(name, -1, type=int) == theirs.get(name, -1, type=int)
    assert (name in ours) == (name in theirs)
    if name in theirs:
        assert ours[name] == theirs[name]
    else:
        with pytest.raises(KeyError):
            ours[name]


def test_request_uses_the_view_and_keeps_the_rest():
    req = ServerRequest(dict(ENVIRON))
    assert isinstance(req.headers, EnvironHeaderView)
    assert req.method == "PUT" and req.path == "/d/1/a/c/o"
    assert dict(req.headers) == dict(EnvironHeaders(ENVIRON))
    assert 3 not in req.headers and req.headers.get(3) is None
