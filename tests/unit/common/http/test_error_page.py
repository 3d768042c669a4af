"""Error bodies as Swift sends them."""

from oiofs.common.exceptions import HTTPNotFound, HTTPPreconditionFailed
from oiofs.common.http.error_page import default_error_body, error_body


def test_generic_pages():
    assert default_error_body(404) == (b"<html><h1>Not Found</h1><p>The resource could not "
                                       b"be found.</p></html>")
    assert default_error_body(500).startswith(b"<html><h1>Internal Error</h1>")
    assert default_error_body(503).endswith(b"Please try again at a later time.</p></html>")
    assert default_error_body(299) == b""


def test_specific_text_wins():
    err = HTTPPreconditionFailed("Invalid UTF8 or contains NULL")
    assert error_body(err.status, err.detail) == b"Invalid UTF8 or contains NULL"
    generic = HTTPNotFound()
    assert generic.detail is None and generic.description == "Not Found"
    assert error_body(generic.status, generic.detail) == default_error_body(404)
