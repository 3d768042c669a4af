"""The symlink filter's sans-IO rules: targets, stored metadata, listing fields."""

import pytest

from oiofs.common.db.listing_format import object_row_to_record, symlink_fields
from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed
from oiofs.obj.server import with_update_overrides
from oiofs.proxy.middleware.symlink_target import (
    OVERRIDE_ETAG,
    LinkTarget,
    client_headers,
    etag_matches,
    link_metadata,
    parse_target,
    stored_target,
    target_size,
)


@pytest.mark.parametrize("value", ["nocontainer", "/c/o", "c/", "/o", "c%00/o"])
def test_malformed_targets_are_412(value):
    with pytest.raises(HTTPPreconditionFailed):
        parse_target(value, None, "AUTH_a")


def test_target_account_and_self_link():
    assert parse_target("c/o", "AUTH_b", "AUTH_a") == LinkTarget("AUTH_b", "c", "o")
    assert parse_target("c/o", "", "AUTH_a") == LinkTarget("AUTH_a", "c", "o")
    with pytest.raises(HTTPPreconditionFailed):
        parse_target("c/o", "x/y", "AUTH_a")
    with pytest.raises(HTTPBadRequest):
        parse_target("c/o", None, "AUTH_a", ("AUTH_a", "c", "o"))
    with pytest.raises(HTTPBadRequest):
        parse_target("c/\xff", None, "AUTH_a")  # not UTF-8


def test_metadata_round_trip_and_listing():
    target = parse_target("c%20d/%C3%A9", None, "AUTH_a")
    assert target.obj == "\u00e9"
    meta = link_metadata(target, "abc", 20)
    lowered = {k.lower(): v for k, v in meta.items()}
    assert stored_target(lowered) == target
    update = with_update_overrides({"X-Etag": "x", "X-Size": "0"}, meta)
    record = object_row_to_record(("n", "1700000000.00000", 0, "application/symlink",
                                   update["X-Etag"]))
    assert record["hash"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert record["symlink_path"] == "/v1/AUTH_a/c%20d/%C3%A9"
    assert (record["symlink_etag"], record["symlink_bytes"]) == ("abc", 20)
    assert OVERRIDE_ETAG in meta


def test_other_etag_parameters_stay_and_plain_etags_pass():
    assert symlink_fields("e; other=1") == ("e; other=1", {})
    assert symlink_fields("e; other=1; symlink_target=c/o; symlink_target_account=A") == \
        ("e; other=1", {"symlink_path": "/v1/A/c/o"})


def test_client_headers_and_static_checks():
    headers = [("X-Object-Sysmeta-Symlink-Target", "c/o"),
               ("X-Object-Sysmeta-Slo-Size", "5"), ("Etag", "e")]
    assert client_headers(headers, False) == [("X-Symlink-Target", "c/o"), ("Etag", "e")]
    assert len(client_headers(headers, True)) == 3
    assert etag_matches('"e"', {"etag": "e"})
    assert etag_matches("s", {"etag": "m", "x-object-sysmeta-slo-etag": "s"})
    assert not etag_matches("z", {"etag": "m"})
    assert target_size({"content-length": "3", "x-object-sysmeta-slo-size": "9"}) == 9
    assert target_size({"content-length": "3"}) == 3
