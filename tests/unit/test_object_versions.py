"""Object versioning names, version ids and settings (sans-IO)."""

from __future__ import annotations

import pytest

from oiofs.common.exceptions import HTTPBadRequest
from oiofs.proxy.middleware import object_versions as ov


def test_newer_versions_sort_first_and_split_back():
    older, newer = "1700000000.00001", "1700000000.00002"
    names = sorted([ov.version_name("a", older), ov.version_name("a", newer)])
    assert [ov.split_version_name(n) for n in names] == [("a", newer), ("a", older)]


def test_versions_of_one_object_sort_before_longer_names():
    rows = sorted([ov.version_name("a/b", "1.00000"), ov.version_name("a", "1.00000"),
                   "ab"])
    assert [ov.split_version_name(r)[0] if ov.split_version_name(r) else r
            for r in rows] == ["a", "a/b", "ab"]


@pytest.mark.parametrize("bad", ["", "null", "abc", "1.0_0000000000000001", "-1"])
def test_bad_version_ids_are_400(bad):
    with pytest.raises(HTTPBadRequest):
        ov.version_name("o", bad)


def test_not_a_version_name():
    assert ov.split_version_name("plain") is None
    assert ov.split_version_name("o\x01notatime") is None


def test_setting_round_trip_and_shown():
    stored = ov.stored_setting(True, ".oiofs-versions.c d")
    sysmeta = {k[len("X-Container-Sysmeta-"):].lower(): v for k, v in stored.items()}
    assert ov.setting_of(sysmeta) == (True, ".oiofs-versions.c d")
    assert ov.setting_of({}) is None
    shown = ov.client_setting([(k, v) for k, v in stored.items()] + [("X-A", "1")])
    assert shown == [("X-A", "1"), ("X-Versions-Enabled", "True")]


def test_requested_setting_refuses_other_words():
    with pytest.raises(HTTPBadRequest):
        ov.requested_setting("maybe")


def test_reserved_names():
    assert ov.is_reserved(ov.versions_container("c"))
    assert not ov.is_reserved("versions")
