import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.exceptions import InvalidTimestamp
from oiofs.common.timestamp import Timestamp, normalize_timestamp, parse_http_date


def test_normal_form_is_fixed_width():
    assert Timestamp(1).normal == "0000000001.00000"
    assert Timestamp(1700000000.123456).normal == "1700000000.12346"
    assert len(Timestamp(0).normal) == 16


def test_internal_form_carries_offset():
    ts = Timestamp(1700000000.5, offset=3)
    assert ts.internal == "1700000000.50000_0000000000000003"
    assert Timestamp(ts.internal) == ts
    assert Timestamp(1700000000.5).internal == "1700000000.50000"


def test_ordering_uses_offset_after_time():
    a = Timestamp(10)
    b = Timestamp(10, offset=1)
    c = Timestamp(10.00001)
    assert a < b < c
    assert sorted([c.internal, a.internal, b.internal]) == [a.internal, b.internal, c.internal]


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1e20", "nan", "inf", "1_zz", None.__class__])
def test_invalid_values_raise(bad):
    with pytest.raises(InvalidTimestamp):
        Timestamp(bad)


def test_delta_and_http_date():
    ts = Timestamp(1700000000.00001)
    assert Timestamp(ts, delta=1).raw == ts.raw + 1
    # Last-Modified rounds up so it never precedes the write
    assert ts.http_date == "Tue, 14 Nov 2023 22:13:21 GMT"
    assert parse_http_date(ts.http_date) == 1700000001
    assert parse_http_date("not a date") is None


def test_isoformat():
    assert Timestamp(0.5).isoformat == "1970-01-01T00:00:00.500000"


@given(st.floats(min_value=0, max_value=9999999999.0), st.floats(min_value=0,
                                                                  max_value=9999999999.0))
def test_text_order_matches_time_order(x, y):
    tx, ty = Timestamp(x), Timestamp(y)
    assert (tx.internal < ty.internal) == (tx < ty)
    assert normalize_timestamp(tx.normal) == tx.normal
