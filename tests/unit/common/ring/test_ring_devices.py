"""Device records and the operator notation for devices (search and add values)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.common.exceptions import RingBuilderError
from oiofs.common.ring.devices import format_device, normalize_device, tiers_of
from oiofs.common.ring.search import matches, parse_add_value, parse_search_value

BASE = {"region": 1, "zone": 2, "ip": "10.0.0.1", "port": 6200, "device": "sdb",
        "weight": 100}


def test_normalize_fills_defaults():
    dev = normalize_device({k: v for k, v in BASE.items() if k != "region"})
    assert dev == {"region": 1, "zone": 2, "ip": "10.0.0.1", "port": 6200, "device": "sdb",
                   "weight": 100.0, "meta": "", "replication_ip": "10.0.0.1",
                   "replication_port": 6200}


def test_normalize_ipv6_and_hostnames():
    assert normalize_device(dict(BASE, ip="[::1]"))["ip"] == "::1"
    assert normalize_device(dict(BASE, ip="Store-1.Example"))["ip"] == "store-1.example"


@pytest.mark.parametrize("change, words", [
    ({"zone": -1}, "zone"), ({"zone": None}, "zone"), ({"port": 0}, "port"),
    ({"port": 70000}, "port"), ({"weight": -1}, "weight"), ({"weight": "x"}, "weight"),
    ({"weight": float("nan")}, "weight"), ({"device": "a/b"}, "device"),
    ({"device": ".."}, "device"), ({"device": ""}, "device"), ({"device": "s db"}, "device"),
    ({"ip": "1.2.3.999"}, "ip"), ({"ip": "bad host"}, "ip"), ({"region": 1.5}, "region"),
    ({"zone": True}, "zone"),
])
def test_normalize_rejects_bad_values(change, words):
    with pytest.raises(RingBuilderError, match=words):
        normalize_device(dict(BASE, **change))


def test_tiers_nest():
    dev = dict(normalize_device(BASE), id=7)
    region, zone, host, device = tiers_of(dev)
    assert zone[:1] == region and host[:2] == zone and device[:4] == host
    assert device[-1] == 7


@pytest.mark.parametrize("value, expected", [
    ("d3", {"id": 3}),
    ("r1z2", {"region": 1, "zone": 2}),
    ("z2-10.0.0.5", {"zone": 2, "ip": "10.0.0.5"}),
    ("-10.0.0.5:6200/sdb", {"ip": "10.0.0.5", "port": 6200, "device": "sdb"}),
    ("10.0.0.5:6200", {"ip": "10.0.0.5", "port": 6200}),
    ("/sdb", {"device": "sdb"}),
    ("_ssd", {"meta": "ssd"}),
    ("-[::1]:6000", {"ip": "::1", "port": 6000}),
    ("-store-1.example:6000", {"ip": "store-1.example", "port": 6000}),
    ("r1z1-10.0.0.1:6200R10.1.0.1:6300/sdc_fast disk",
     {"region": 1, "zone": 1, "ip": "10.0.0.1", "port": 6200, "replication_ip": "10.1.0.1",
      "replication_port": 6300, "device": "sdc", "meta": "fast disk"}),
])
def test_parse_search_value(value, expected):
    assert parse_search_value(value) == expected


@pytest.mark.parametrize("value", ["", "x", "d", "r1z", "z1-", "d1 r2", "/", "r1z1-10.0.0.1:"])
def test_parse_search_value_rejects(value):
    with pytest.raises(RingBuilderError):
        parse_search_value(value)


def test_parse_add_value():
    assert parse_add_value("r2z3-10.0.0.1:6200/sdb_ssd") == {
        "region": 2, "zone": 3, "ip": "10.0.0.1", "port": 6200, "device": "sdb",
        "meta": "ssd"}
    assert parse_add_value("z3-10.0.0.1:6200/sdb")["region"] == 1


@pytest.mark.parametrize("value", ["r1z1-10.0.0.1/sdb", "r1z1-10.0.0.1:6200", "r1-10.0.0.1:1/s",
                                   "d1r1z1-10.0.0.1:6200/sdb", "nonsense"])
def test_parse_add_value_needs_a_whole_device(value):
    with pytest.raises(RingBuilderError, match="expected r<region>z<zone>"):
        parse_add_value(value)


def test_matches_meta_as_substring():
    dev = dict(normalize_device(dict(BASE, meta="fast ssd")), id=1)
    assert matches(dev, {"meta": "ssd", "zone": 2})
    assert not matches(dev, {"meta": "hdd"})
    assert not matches(dev, {"zone": 3})


@settings(max_examples=60, deadline=None)
@given(dev_id=st.integers(0, 500), region=st.integers(0, 9), zone=st.integers(0, 99),
       ip=st.sampled_from(["10.0.0.1", "::1", "fe80::2", "node-3.example"]),
       port=st.integers(1, 65535),
       device=st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=8)
       .filter(lambda name: name not in (".", "..")))
def test_formatted_device_is_found_by_its_own_search_value(dev_id, region, zone, ip, port,
                                                           device):
    dev = dict(normalize_device({"region": region, "zone": zone, "ip": ip, "port": port,
                                 "device": device, "weight": 1}), id=dev_id)
    criteria = parse_search_value(format_device(dev))
    assert matches(dev, criteria)
    assert criteria["id"] == dev_id and criteria["device"] == device
