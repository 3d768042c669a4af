"""The expiry queue's names, placement headers and shares of work (no I/O)."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.common.expiring import (
    QueueEntry,
    handles_row,
    parse_queue_object,
    policy_of_row,
    queue_container,
    queue_object,
    row_content_type,
)


def test_container_is_delete_at_rounded_down_to_the_divisor():
    assert queue_container(1700006400) == "1700006400"
    assert queue_container(1700006399) == "1699920000"
    assert queue_container(1700092799) == "1700006400"
    assert queue_container(1700000123, divisor=100) == "1700000100"
    assert queue_container(59, divisor=3600) == "0"


def test_row_names_sort_by_time():
    early = queue_object(999999999, "AUTH_z", "c", "o")  # nine digits: zero-padded
    late = queue_object(1700000000, "AUTH_a", "c", "o")
    assert early == "0999999999-AUTH_z/c/o"
    assert sorted([late, early]) == [early, late]


def test_row_name_keeps_slashes_and_dashes_of_the_object():
    name = queue_object(1700000000, "AUTH_a-b", "c-d", "dir/sub-x/é")
    assert name == "1700000000-AUTH_a-b/c-d/dir/sub-x/é"
    assert parse_queue_object(name) == QueueEntry(1700000000, "AUTH_a-b", "c-d", "dir/sub-x/é")


segment = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]),
                  min_size=1, max_size=20)


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=9999999999), segment, segment,
       st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]),
               min_size=1, max_size=40))
def test_names_round_trip(delete_at, account, container, obj):
    name = queue_object(delete_at, account, container, obj)
    assert parse_queue_object(name) == (delete_at, account, container, obj)


@pytest.mark.parametrize("name", [
    "", "1700000000", "1700000000-", "1700000000-a", "1700000000-a/c", "1700000000-a/c/",
    "x1700000000-a/c/o", "-a/c/o", "17000000.5-a/c/o", "1700000000-/c/o", "1700000000-a//o",
    "١٧٠٠-a/c/o",  # digits, but not ASCII ones
])
def test_bad_row_names_are_refused(name):
    with pytest.raises(ValueError):
        parse_queue_object(name)


def test_content_type_carries_the_policy_when_not_zero():
    assert row_content_type(0) == "text/plain"
    assert row_content_type(2) == "text/plain;oiofs_policy_index=2"
    assert policy_of_row("text/plain") == 0
    assert policy_of_row(None) == 0
    assert policy_of_row(row_content_type(2)) == 2
    assert policy_of_row("text/plain; charset=utf-8; oiofs_policy_index = 3") == 3
    with pytest.raises(ValueError):
        policy_of_row("text/plain;oiofs_policy_index=x")


ROWS = [queue_object(1700000000 + i, "AUTH_t", "c", f"o{i}") for i in range(400)]


def owners(row, count, overdue, delay):
    return [i for i in range(count) if handles_row("1700000000", row, i, count, overdue,
                                                   delay)]


def test_each_row_has_exactly_one_owner_and_shares_are_even():
    load = [0] * 4
    for row in ROWS:
        mine = owners(row, 4, 0, 3600)
        assert len(mine) == 1
        load[mine[0]] += 1
    assert min(load) > 60  # 100 each on average


def test_overdue_rows_are_taken_over_one_expirer_at_a_time():
    for row in ROWS[:50]:
        first = owners(row, 4, 0, 3600)[0]
        assert owners(row, 4, 3599, 3600) == [first]
        taken = owners(row, 4, 3600, 3600)
        assert len(taken) == 2 and first in taken and (first + 1) % 4 in taken
        assert len(owners(row, 4, 2 * 3600, 3600)) == 3
        assert owners(row, 4, 10 * 3600, 3600) == [0, 1, 2, 3]
        assert owners(row, 4, 10 * 3600, 0) == [first]  # take-over turned off


def test_a_single_expirer_handles_everything():
    assert all(handles_row("0", row, 0, 1, 0, 3600) for row in ROWS[:20])
