"""The listing rules (markers, prefix, delimiter, path, reverse) against a plain model.

``tests.support.listing_model`` states the rules the simple way (filter everything, roll
up, sort, cut); the real algorithm works with range queries. Property tests check they always agree.
The broker tests (container, account) reuse the model against real sqlite databases.
"""

from bisect import bisect_left, bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.common.db.listing import list_with_rules, prefix_upper_bound
from tests.support.listing_model import ALPHABET, listing_model


def list_fetch(names):
    """A ``Fetch`` over a sorted Python list (what a broker does with its index)."""
    names = sorted(set(names))
    calls = []

    def fetch(lower, inclusive, upper, count, descending):
        calls.append((lower, inclusive, upper, count, descending))
        start = 0 if lower is None else (bisect_left(names, lower) if inclusive
                                         else bisect_right(names, lower))
        stop = len(names) if upper is None else bisect_left(names, upper)
        chosen = names[start:stop]
        if descending:
            chosen = chosen[::-1]
        return [(name,) for name in chosen[:count]]

    return fetch, calls


def run_rules(names, *args, **kwargs):
    fetch, calls = list_fetch(names)
    rows = list_with_rules(fetch, *args, subdir_row=lambda n: (n, "subdir"), **kwargs)
    return [(row[0], len(row) > 1) for row in rows], calls


names_st = st.lists(st.text(ALPHABET, min_size=1, max_size=5), max_size=30)
maybe_text = st.one_of(st.none(), st.text(ALPHABET, max_size=4))


@settings(max_examples=400, deadline=None)
@given(names=names_st, limit=st.integers(0, 12), marker=maybe_text, end_marker=maybe_text,
       prefix=maybe_text,
       delimiter=st.sampled_from([None, "/", "a", "0", "a/", "//", "/0", "0.b"]),
       reverse=st.booleans())
def test_rules_match_model(names, limit, marker, end_marker, prefix, delimiter, reverse):
    got, _calls = run_rules(names, limit, marker, end_marker, prefix, delimiter, None,
                            reverse)
    assert got == listing_model(names, limit, marker, end_marker, prefix, delimiter, None,
                                reverse)


@settings(max_examples=300, deadline=None)
@given(names=names_st, limit=st.integers(0, 12), marker=maybe_text, end_marker=maybe_text,
       path=st.text(ALPHABET, max_size=3), reverse=st.booleans())
def test_path_rules_match_model(names, limit, marker, end_marker, path, reverse):
    got, _calls = run_rules(names, limit, marker, end_marker, None, None, path, reverse)
    assert got == listing_model(names, limit, marker, end_marker, None, None, path, reverse)


def test_delimiter_rolls_up_and_jumps_over_each_subdir_with_one_query():
    names = [f"dir{i}/obj{j}" for i in range(5) for j in range(1000)] + ["top"]
    got, calls = run_rules(names, 100, "", None, None, "/", None, False)
    assert got == [(f"dir{i}/", True) for i in range(5)] + [("top", False)]
    # one query per subdir plus the last one: never a scan of the 5000 names
    assert len(calls) == 6


def test_paging_through_subdirs_with_the_marker_does_not_repeat_them():
    names = ["a/1", "a/2", "b/1", "c"]
    first, _ = run_rules(names, 1, "", None, None, "/", None, False)
    assert first == [("a/", True)]
    second, _ = run_rules(names, 10, "a/", None, None, "/", None, False)
    assert second == [("b/", True), ("c", False)]
    backwards, _ = run_rules(names, 10, "c", None, None, "/", None, True)
    assert backwards == [("b/", True), ("a/", True)]


def test_path_skips_deeper_names_and_the_path_itself():
    names = ["a/", "a/b", "a/b/", "a/b/c", "a/b0", "a/c/d/e", "ab"]
    got, _ = run_rules(names, 100, "", None, None, None, "a", False)
    # "a/b0" sorts right after the skipped "a/b/..." subtree: it must not be jumped over
    assert got == [("a/b", False), ("a/b/", False), ("a/b0", False)]
    got_reverse, _ = run_rules(names, 100, "", None, None, None, "a/", True)
    assert got_reverse == got[::-1]


def test_multi_character_delimiters():
    names = ["a--b", "a--c--d", "a-b", "a-.", "a.", "b--", "b---c"]
    got, _ = run_rules(names, 100, "", None, None, "--", None, False)
    assert got == [("a--", True), ("a-.", False), ("a-b", False), ("a.", False),
                   ("b--", True)]
    got, _ = run_rules(names, 100, "", None, "a--", "--", None, False)
    assert got == [("a--b", False), ("a--c--", True)]
    got, _ = run_rules(names, 100, "", None, None, "--", None, True)
    assert got == [("b--", True), ("a.", False), ("a-b", False), ("a-.", False),
                   ("a--", True)]


def test_delimiter_ending_the_name_space():
    top = "\U0010ffff"
    names = ["a" + top + "x", "a" + top + "y", "b"]
    got, _ = run_rules(names, 100, "", None, None, top, None, False)
    assert got == [("a" + top, True), ("b", False)]
    got, _ = run_rules([top + "x", top + "y"], 100, "", None, None, top, None, False)
    assert got == [(top, True)]


def test_limit_zero_and_empty():
    assert run_rules(["a"], 0, "", None, None, None, None, False)[0] == []
    assert run_rules([], 10, "", None, "p", "/", None, False)[0] == []


def test_prefix_upper_bound():
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a/") == "a0"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("") is None
