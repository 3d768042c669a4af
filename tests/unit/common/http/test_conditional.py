"""Precondition evaluation in Swift's order, and If-Range."""

import pytest

from oiofs.common.http.conditional import Precondition, evaluate_preconditions, if_range_allows
from oiofs.common.timestamp import Timestamp

LAST_MODIFIED = 1700000000
BEFORE = Timestamp(LAST_MODIFIED - 10).http_date
SAME = Timestamp(LAST_MODIFIED).http_date
AFTER = Timestamp(LAST_MODIFIED + 10).http_date


def evaluate(headers, method="GET", etag="e", exists=True):
    lower = {k.lower(): v for k, v in headers.items()}
    return evaluate_preconditions(lambda name: lower.get(name.lower()), method, etag,
                                  LAST_MODIFIED, exists)


@pytest.mark.parametrize("headers, method, expected", [
    ({}, "GET", Precondition.PROCEED),
    ({"If-Match": '"e"'}, "GET", Precondition.PROCEED),
    ({"If-Match": '"x", "e"'}, "GET", Precondition.PROCEED),
    ({"If-Match": "*"}, "GET", Precondition.PROCEED),
    ({"If-Match": '"x"'}, "GET", Precondition.FAILED),
    ({"If-Match": 'W/"e"'}, "GET", Precondition.FAILED),
    ({"If-None-Match": '"e"'}, "GET", Precondition.NOT_MODIFIED),
    ({"If-None-Match": 'W/"e"'}, "HEAD", Precondition.NOT_MODIFIED),
    ({"If-None-Match": "*"}, "GET", Precondition.NOT_MODIFIED),
    ({"If-None-Match": '"e"'}, "DELETE", Precondition.FAILED),
    ({"If-None-Match": '"x"'}, "GET", Precondition.PROCEED),
    ({"If-Modified-Since": SAME}, "GET", Precondition.NOT_MODIFIED),
    ({"If-Modified-Since": AFTER}, "GET", Precondition.NOT_MODIFIED),
    ({"If-Modified-Since": BEFORE}, "GET", Precondition.PROCEED),
    ({"If-Modified-Since": SAME}, "PUT", Precondition.PROCEED),
    ({"If-Modified-Since": "garbage"}, "GET", Precondition.PROCEED),
    ({"If-Unmodified-Since": BEFORE}, "GET", Precondition.FAILED),
    ({"If-Unmodified-Since": SAME}, "GET", Precondition.PROCEED),
    ({"If-Unmodified-Since": "garbage"}, "GET", Precondition.PROCEED),
    # Swift (unlike RFC 7232): a matching If-Match does not excuse If-Unmodified-Since...
    ({"If-Match": '"e"', "If-Unmodified-Since": BEFORE}, "GET", Precondition.FAILED),
    ({"If-Match": '"e"', "If-Unmodified-Since": SAME}, "GET", Precondition.PROCEED),
    # ... a non-matching If-None-Match does not excuse If-Modified-Since
    ({"If-None-Match": '"x"', "If-Modified-Since": AFTER}, "GET", Precondition.NOT_MODIFIED),
    ({"If-None-Match": '"x"', "If-Modified-Since": BEFORE}, "GET", Precondition.PROCEED),
    # ... and a matching If-None-Match (304) is decided before If-Match (412)
    ({"If-Match": '"x"', "If-None-Match": '"e"'}, "GET", Precondition.NOT_MODIFIED),
    ({"If-Match": '"x"', "If-None-Match": '"y"'}, "GET", Precondition.FAILED),
    # If-Modified-Since (304) before If-Unmodified-Since (412)
    ({"If-Modified-Since": AFTER, "If-Unmodified-Since": BEFORE}, "GET",
     Precondition.NOT_MODIFIED),
    ({"If-Modified-Since": BEFORE, "If-Unmodified-Since": BEFORE}, "GET",
     Precondition.FAILED),
    # "*" as one element of a list matches any representation
    ({"If-Match": '"x", *'}, "GET", Precondition.PROCEED),
])
def test_evaluation(headers, method, expected):
    assert evaluate(headers, method) is expected


def test_missing_representation():
    assert evaluate({"If-Match": "*"}, exists=False) is Precondition.FAILED
    assert evaluate({"If-Match": '"e", *'}, exists=False) is Precondition.FAILED
    # any other tag: the caller answers 404, as Swift does
    assert evaluate({"If-Match": '"e"'}, exists=False) is Precondition.PROCEED
    assert evaluate({"If-None-Match": "*"}, exists=False) is Precondition.PROCEED
    assert evaluate({"If-Unmodified-Since": BEFORE}, exists=False) is Precondition.PROCEED


def test_if_range():
    assert if_range_allows(None, "e", LAST_MODIFIED)
    assert if_range_allows('"e"', "e", LAST_MODIFIED)
    assert not if_range_allows('"x"', "e", LAST_MODIFIED)
    assert not if_range_allows('W/"e"', "e", LAST_MODIFIED)
    assert if_range_allows(SAME, "e", LAST_MODIFIED)
    assert not if_range_allows(BEFORE, "e", LAST_MODIFIED)
    assert not if_range_allows("garbage", "e", LAST_MODIFIED)
