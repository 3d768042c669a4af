"""Parsing the container update headers (sending is covered by the functional tests)."""

import pytest

from oiofs.obj.container_update import UpdateTarget, parse_update_targets


def test_one_target():
    assert parse_update_targets("127.0.0.1:6201", "sdb", "12") == [
        UpdateTarget("127.0.0.1", 6201, "sdb", "12")]


def test_several_targets_share_one_partition():
    assert parse_update_targets("127.0.0.1:1, 127.0.0.2:2", "d1, d2", "5") == [
        UpdateTarget("127.0.0.1", 1, "d1", "5"), UpdateTarget("127.0.0.2", 2, "d2", "5")]


def test_ipv6_hosts():
    assert parse_update_targets("[::1]:6201", "d", "1") == [UpdateTarget("::1", 6201, "d", "1")]


def test_absent():
    assert parse_update_targets(None, None, None) == []
    assert parse_update_targets("", "d", "1") == []


@pytest.mark.parametrize("hosts, devices, parts", [
    ("127.0.0.1:1,127.0.0.1:2", "d1", "1"),
    ("127.0.0.1:1", "d1,d2", "1"),
    ("127.0.0.1:1,127.0.0.1:2", "d1,d2", "1,2,3"),
    ("127.0.0.1", "d", "1"),
    ("127.0.0.1:port", "d", "1"),
    ("127.0.0.1:1", "", "1"),
    ("127.0.0.1:1", "d", None),
])
def test_mismatches_are_refused(hosts, devices, parts):
    with pytest.raises(ValueError):
        parse_update_targets(hosts, devices, parts)
