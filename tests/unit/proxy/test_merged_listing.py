"""The merge of container replicas' raw rows (oiofs.proxy.merged_listing): newest row
wins, deletions drop names, pages stay exact, listing rules (prefix, delimiter, path,
reverse, markers) apply to the merged rows as a container server applies them."""

from __future__ import annotations

import random

import pytest

from oiofs.common.db.listing import list_with_rules
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import encode_timestamps, subdir_row
from oiofs.proxy.merged_listing import ACCOUNT_ROWS, MergedRows, listing_row, merge_rows


def raw(name, stamp, deleted=0, size=1, etag="e", ctype="text/plain", created_at=None):
    return {"name": name, "created_at": created_at or Timestamp(stamp).internal,
            "size": 0 if deleted else size, "etag": "noetag" if deleted else etag,
            "content_type": "application/deleted" if deleted else ctype,
            "deleted": deleted}


class Replicas:
    """In-memory replicas answering raw pages as a container server does (an ``Ask``)."""

    def __init__(self, *replicas):
        self.rows = [sorted(rows, key=lambda r: r["name"]) for rows in replicas]
        self.asked = []

    def __call__(self, queries, count, reverse):
        self.asked.append((queries, count, reverse))
        pages = []
        for i, lower, inclusive, upper in queries:
            rows = [r for r in self.rows[i]
                    if (lower is None or r["name"] > lower
                        or (inclusive and r["name"] == lower))
                    and (upper is None or r["name"] < upper)]
            if reverse:
                rows.reverse()
            pages.append(rows[:count])
        return pages


def merged_state(replicas: Replicas) -> list[tuple]:
    """The reference: every name's rows merged, deleted names dropped, in order."""
    by_name: dict[str, list] = {}
    for rows in replicas.rows:
        for row in rows:
            by_name.setdefault(row["name"], []).append(row)
    merged = [merge_rows(by_name[name]) for name in sorted(by_name)]
    return [listing_row(row) for row in merged if not row["deleted"]]


def reference_fetch(live: list[tuple]):
    def fetch(lower, inclusive, upper, count, reverse):
        rows = [r for r in live if (lower is None or r[0] > lower
                                    or (inclusive and r[0] == lower))
                and (upper is None or r[0] < upper)]
        if reverse:
            rows.reverse()
        return rows[:count]
    return fetch


def listing(fetch, limit=100, marker="", end_marker=None, prefix=None, delimiter=None,
            path=None, reverse=False):
    return list_with_rules(fetch, limit, marker, end_marker, prefix, delimiter, path,
                           reverse, subdir_row)


def names(rows):
    return [row[0] for row in rows]


def test_the_newest_row_of_each_name_wins_and_deletions_drop_names():
    stale = [raw("a", 1), raw("b", 1), raw("gone", 1)]
    fresh = [raw("a", 1), raw("b", 3, size=7), raw("gone", 2, deleted=1), raw("new", 2)]
    replicas = Replicas(stale, fresh, [])
    rows = listing(MergedRows(replicas, 3).fetch)
    assert names(rows) == ["a", "b", "new"]
    assert rows[1][2] == 7  # b's newer size
    # the order of the replicas does not matter
    assert listing(MergedRows(Replicas(fresh, [], stale), 3).fetch) == rows


def test_a_put_newer_than_a_deletion_comes_back():
    rows = listing(MergedRows(Replicas([raw("o", 3)], [raw("o", 2, deleted=1)]), 2).fetch)
    assert names(rows) == ["o"]


def test_a_post_newer_content_type_merges_with_the_data_of_another_row():
    data = Timestamp(5)
    posted = raw("o", 5, ctype="image/png",
                 created_at=encode_timestamps(data, Timestamp(9), Timestamp(9)))
    newer_data = raw("o", 7, size=42, etag="new")
    row = listing(MergedRows(Replicas([posted], [newer_data]), 2).fetch)[0]
    assert row[2:] == (42, "image/png", "new")
    assert row[1] == Timestamp(9).internal  # last modified: the newest timestamp


def test_pages_are_exact_when_one_replica_holds_many_deleted_rows():
    # replica 0 missed 50 deletions; the others hold the tombstones
    live = [raw(f"o{n:03}", 1) for n in range(60)]
    deleted = [raw(f"o{n:03}", 2, deleted=1) for n in range(50)] + live[50:]
    replicas = Replicas(live, deleted, deleted)
    rows = MergedRows(replicas, 3)
    assert names(listing(rows.fetch, limit=5)) == [f"o{n:03}" for n in range(50, 55)]
    # the replicas cut short were asked for more pages until 5 names were certain
    assert len(replicas.asked) > 1


def test_only_names_up_to_the_shortest_full_page_are_served():
    a = [raw(f"x{n}", 1) for n in range(3)]                 # x0 x1 x2
    b = [raw("x0", 1), raw("x05", 1), raw("x1", 1), raw("x15", 1), raw("x2", 1)]
    replicas = Replicas(a, b)
    # pages of 2: a says x0 x1, b says x0 x05; x1 is certain only after b's next page
    assert names(listing(MergedRows(replicas, 2).fetch, limit=2)) == ["x0", "x05"]
    assert names(listing(MergedRows(replicas, 2).fetch, limit=3)) == ["x0", "x05", "x1"]
    assert names(listing(MergedRows(replicas, 2).fetch, limit=3, reverse=True)) == \
        ["x2", "x15", "x1"]


def test_a_subdir_only_a_stale_replica_shows_is_not_listed():
    stale = [raw("dir/o", 1), raw("top", 1)]
    fresh = [raw("dir/o", 2, deleted=1), raw("top", 1)]
    rows = listing(MergedRows(Replicas(stale, fresh, fresh), 3).fetch, delimiter="/")
    assert names(rows) == ["top"]
    stale.append(raw("dir/p", 1))  # another live member keeps the subdir
    rows = listing(MergedRows(Replicas(stale, fresh, fresh), 3).fetch, delimiter="/")
    assert rows[0] == subdir_row("dir/") and names(rows) == ["dir/", "top"]


NAMES = ["a", "a/", "a/b", "a/b/c", "a/c", "a0", "ab", "b", "b/x", "b/y/z", "c", "c-d",
         "c-d-e", "d", "\u00e9t\u00e9", "z/"]


@pytest.mark.parametrize("seed", range(60))
def test_the_merge_lists_what_the_merged_state_lists(seed):
    """Random replicas (rows missing, stale, deleted), random listing parameters: the
    merged listing equals the listing of the merged state, and paging by marker
    through it sees every entry once."""
    rnd = random.Random(seed)
    replicas = []
    for _ in range(rnd.choice((2, 3))):
        rows = []
        for name in NAMES:
            if rnd.random() < 0.7:
                rows.append(raw(name, rnd.randint(1, 5), deleted=int(rnd.random() < 0.4),
                                size=rnd.randint(0, 9)))
        replicas.append(rows)
    ask = Replicas(*replicas)
    live = merged_state(ask)
    params = {"limit": rnd.choice((1, 2, 3, 5, 100)),
              "reverse": rnd.random() < 0.3}
    choice = rnd.random()
    if choice < 0.4:
        params["delimiter"] = rnd.choice(("/", "-"))
        params["prefix"] = rnd.choice((None, "a", "a/", "c-"))
    elif choice < 0.55:
        params["path"] = rnd.choice(("a", "b", ""))
    elif choice < 0.75:
        params["prefix"] = rnd.choice(("a", "b", "c"))
    if rnd.random() < 0.3:
        params["marker"] = rnd.choice(NAMES)
    if rnd.random() < 0.3:
        params["end_marker"] = rnd.choice(NAMES)
    page_rows = rnd.choice((1, 2, 1000))  # pages shorter than the listing's limit too
    got = listing(MergedRows(ask, len(replicas), page_rows=page_rows).fetch, **params)
    assert got == listing(reference_fetch(live), **params), (params, page_rows)
    # page through it as a client does (marker: the last entry), up to an empty page
    whole = listing(reference_fetch(live), **dict(params, limit=10000))
    seen: list = []
    marker = params.get("marker", "")
    for _ in range(len(NAMES) + 2):
        page = listing(MergedRows(ask, len(replicas), page_rows=page_rows).fetch,
                       **dict(params, marker=marker))
        if not page:
            break
        seen += page
        marker = page[-1][0]
    assert seen == whole, params


# --- account listings: container rows with put and delete timestamps ----------------------

def container_row(name, put, delete=0, objects=0):
    return {"name": name, "put_timestamp": Timestamp(put).internal,
            "delete_timestamp": Timestamp(delete).internal, "object_count": objects,
            "bytes_used": objects * 10, "storage_policy_index": 0,
            "deleted": int(delete > put and not objects)}


def test_account_rows_merge_by_put_and_delete_timestamps():
    stale = [container_row("doomed", 1), container_row("meta", 1, objects=1)]
    fresh = [container_row("doomed", 1, delete=3), container_row("fresh", 2),
             container_row("meta", 1, objects=1)]
    replicas = Replicas(stale, fresh)
    rows = list_with_rules(MergedRows(replicas, 2, ACCOUNT_ROWS).fetch, 100, "", None,
                           None, None, None, False, ACCOUNT_ROWS.subdir_row)
    assert rows == [("fresh", 0, 0, Timestamp(2).internal, 0),
                    ("meta", 1, 10, Timestamp(1).internal, 0)]
    # a container made again after its deletion is listed
    again = Replicas([container_row("c", 5)], [container_row("c", 1, delete=3)])
    assert names(list_with_rules(MergedRows(again, 2, ACCOUNT_ROWS).fetch, 100, "", None,
                                 None, "/", None, True, ACCOUNT_ROWS.subdir_row)) == ["c"]
