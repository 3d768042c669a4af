"""Entity tag quoting and list matching."""

import pytest

from oiofs.common.http.etag import ANY, etag_matches, parse_etag_list, quote_etag, unquote_etag


def test_quote_and_unquote_round_trip():
    assert quote_etag("abc") == '"abc"'
    assert quote_etag('"abc"') == '"abc"'
    assert unquote_etag('"abc"') == "abc"
    assert unquote_etag('W/"abc"') == "abc"
    assert unquote_etag("abc") == "abc"
    assert unquote_etag(None) is None


@pytest.mark.parametrize("value, expected", [
    ("*", ANY),
    (' * ', ANY),
    ('"a"', [("a", False)]),
    ('"a", W/"b" ,c', [("a", False), ("b", True), ("c", False)]),
    ('"a,b", "c"', [("a,b", False), ("c", False)]),
    (', ,"a",,', [("a", False)]),
    ('"unterminated', [("unterminated", False)]),
    ("", []),
])
def test_parse_etag_list(value, expected):
    assert parse_etag_list(value) == expected


def test_strong_comparison_refuses_weak_tags():
    assert etag_matches('"x"', "x", weak=False)
    assert not etag_matches('W/"x"', "x", weak=False)
    assert etag_matches('W/"x"', "x", weak=True)
    assert etag_matches("x", "x", weak=False)  # unquoted, as sloppy clients send


def test_star_matches_only_an_existing_representation():
    assert etag_matches("*", "anything", weak=False)
    assert not etag_matches("*", None, weak=False)
    assert not etag_matches('"x"', None, weak=True)


def test_no_partial_match():
    assert not etag_matches('"xy", "z"', "x", weak=True)
