"""RFC 7232 precondition evaluation order and If-Range."""

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
    # If-Match takes precedence over If-Unmodified-Since
    ({"If-Match": '"e"', "If-Unmodified-Since": BEFORE}, "GET", Precondition.PROCEED),
    # If-None-Match takes precedence over If-Modified-Since
    ({"If-None-Match": '"x"', "If-Modified-Since": AFTER}, "GET", Precondition.PROCEED),
    # 412 from If-Match wins over 304 from If-None-Match
    ({"If-Match": '"x"', "If-None-Match": '"e"'}, "GET", Precondition.FAILED),
])
def test_evaluation(headers, method, expected):
    assert evaluate(headers, method) is expected


def test_missing_representation():
    assert evaluate({"If-Match": "*"}, exists=False) is Precondition.FAILED
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
