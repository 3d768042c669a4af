"""Names and rows of the misplaced-objects queue (sans-IO)."""

import pytest

from oiofs.common.reconciler_queue import (
    DELETE_TYPE,
    PUT_TYPE,
    is_delete_row,
    parse_queue_object,
    queue_container,
    queue_container_done,
    queue_object,
    row_content_type,
    row_etag,
    row_timestamp,
)
from oiofs.common.timestamp import Timestamp


def test_names_round_trip_with_slashes_and_colons_in_the_object():
    name = queue_object(12, "AUTH_a", "c", "x:/y/z")
    assert name == "12:/AUTH_a/c/x:/y/z"
    entry = parse_queue_object(name)
    assert (entry.policy_index, entry.account, entry.container, entry.obj) == (
        12, "AUTH_a", "c", "x:/y/z")


@pytest.mark.parametrize("name", ["", "1", "x:/a/c/o", "1:/a/c", "1:/a//o", "1/a/c/o",
                                  "-1:/a/c/o", "١:/a/c/o"])
def test_names_that_are_not_queue_rows_are_refused(name):
    with pytest.raises(ValueError):
        parse_queue_object(name)


def test_containers_are_hours_and_rows_keep_the_whole_timestamp():
    stamp = Timestamp(7205.5, offset=3)
    assert queue_container(stamp) == "7200"
    assert row_timestamp(row_etag(stamp)) == stamp
    assert row_timestamp(row_etag(stamp)).offset == 3
    with pytest.raises(ValueError):
        row_timestamp("d41d8cd98f00b204e9800998ecf8427e")


def test_row_types():
    assert row_content_type(False) == PUT_TYPE and not is_delete_row(PUT_TYPE)
    assert row_content_type(True) == DELETE_TYPE and is_delete_row(DELETE_TYPE + ";x=1")
    with pytest.raises(ValueError):
        is_delete_row("text/plain")
    with pytest.raises(ValueError):
        is_delete_row(None)


def test_a_queue_container_is_done_once_its_hour_is_over():
    assert not queue_container_done("7200", 7200 + 3599)
    assert queue_container_done("7200", 7200 + 3600)
    assert not queue_container_done("not-a-time", 10**10)
