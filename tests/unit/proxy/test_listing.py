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
    ("format=json&format=xml", None, "xml"),
    ("format=xml&format=bogus", "application/json", "plain"),
])
def test_listing_format(query, accept, fmt):
    assert listing_format(query, accept) == fmt


def test_limit_checks_follow_the_servers_rules():
    check_listing_query("limit=10000", 10000)
    with pytest.raises(HTTPPreconditionFailed) as err:
        check_listing_query("limit=10001", 10000)
    assert err.value.description == "Maximum limit is 10000"
    # not a non-negative integer: ignored (the maximum is used), as in Swift
    for query in ("limit=abc", "limit=-1", "limit=", "limit=1.5"):
        check_listing_query(query, 10000)


def test_bad_params():
    with pytest.raises(HTTPBadRequest):
        check_listing_query("prefix=%ff", 100)
    with pytest.raises(HTTPPreconditionFailed):
        check_listing_query("marker=a%00", 100)
    check_listing_query("delimiter=ab", 100)  # multi-character delimiters are fine


def test_empty_account_listing():
    assert empty_account_listing("AUTH_x", "plain")[0] == 204
    status, body, ctype = empty_account_listing("AUTH_x", "json")
    assert status == 200 and json.loads(body) == [] and ctype.startswith("application/json")
    status, body, _ = empty_account_listing('AUTH_"x', "xml")
    assert status == 200 and b"<account name='AUTH_\"x'></account>" in body
