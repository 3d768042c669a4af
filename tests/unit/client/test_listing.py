"""Listing pages: markers, the end of a listing, limits (sans-IO)."""

import pytest

from oiofs.client.listing import MAX_PAGE, ListingPager


def names(entries):
    return [e.get("name", e.get("subdir")) for e in entries]


def walk(pager, store):
    """Drive ``pager`` against a list of sorted names as a Swift listing would answer."""
    out, requests = [], 0
    while not pager.done:
        params = pager.params()
        requests += 1
        source = sorted(store, reverse=bool(params["reverse"]))
        if params["reverse"]:
            page = [n for n in source if not params["marker"] or n < params["marker"]]
        else:
            page = [n for n in source if n > params["marker"]]
        page = [n for n in page if n.startswith(params["prefix"] or "")]
        out.extend(pager.feed([{"name": n} for n in page[: params["limit"]]]))
    return names(out), requests


def test_pages_follow_the_marker():
    store = [f"o{i:03d}" for i in range(25)]
    listed, requests = walk(ListingPager(page_size=10), store)
    assert listed == store and requests == 3


def test_a_full_last_page_costs_one_empty_request():
    store = [f"o{i:03d}" for i in range(20)]
    listed, requests = walk(ListingPager(page_size=10), store)
    assert listed == store and requests == 3


def test_reverse_and_prefix():
    store = ["a1", "a2", "b1", "a3"]
    listed, _ = walk(ListingPager(prefix="a", reverse=True, page_size=1), store)
    assert listed == ["a3", "a2", "a1"]


def test_limit_stops_early_and_asks_no_more_than_needed():
    pager = ListingPager(page_size=10, limit=12)
    assert pager.params()["limit"] == 10
    pager.feed([{"name": f"o{i:02d}"} for i in range(10)])
    assert pager.params()["limit"] == 2 and not pager.done
    pager.feed([{"name": "o10"}, {"name": "o11"}])
    assert pager.done and pager.returned == 12


def test_subdir_entries_are_markers_too():
    pager = ListingPager(delimiter="/", page_size=2)
    pager.feed([{"name": "a"}, {"subdir": "b/"}])
    assert pager.params()["marker"] == "b/" and pager.params()["delimiter"] == "/"


def test_zero_limit_is_done_at_once():
    assert ListingPager(limit=0).done


@pytest.mark.parametrize("size", [0, MAX_PAGE + 1])
def test_page_size_bounds(size):
    with pytest.raises(ValueError):
        ListingPager(page_size=size)
