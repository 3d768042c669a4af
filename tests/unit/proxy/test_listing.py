"""Listing format negotiation and parameter checks."""

import json

import pytest

from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed
from oiofs.proxy.listing import check_listing_query, empty_account_listing, listing_format


@pytest.mark.parametrize("query, accept, fmt", [
    ("", None, "plain"),
    ("format=json", None, "json"),
    ("format=XML", None, "xml"),
    ("limit=3&format=application/json", None, "json"),
    ("", "application/json", "json"),
    ("", "text/xml;q=0.5, application/json;q=0.9", "json"),
    ("", "*/*", "plain"),
    ("format=plain", "application/json", "plain"),
])
def test_listing_format(query, accept, fmt):
    assert listing_format(query, accept) == fmt


def test_limit_checks():
    check_listing_query("limit=10000", 10000)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("limit=10001", 10000)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("limit=abc", 10000)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("limit=-1", 10000)


def test_bad_params():
    with pytest.raises(HTTPBadRequest):
        check_listing_query("prefix=%ff", 100)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("delimiter=ab", 100)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("marker=a%00", 100)


def test_empty_account_listing():
    assert empty_account_listing("AUTH_x", "plain")[0] == 204
    status, body, ctype = empty_account_listing("AUTH_x", "json")
    assert status == 200 and json.loads(body) == [] and ctype.startswith("application/json")
    status, body, _ = empty_account_listing('AUTH_"x', "xml")
    assert status == 200 and b"<account name='AUTH_\"x'></account>" in body
