"""Range parsing and resolution, with property tests for the parser."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.http.ranges import (
    MAX_NONASCENDING_RANGES,
    MAX_RANGE_OVERLAPS,
    MAX_RANGES,
    ByteRangeSpec,
    content_range,
    parse_content_range,
    parse_range_header,
    ranges_to_serve,
    resolve_ranges,
    unsatisfied_content_range,
)


@pytest.mark.parametrize("header, specs", [
    ("bytes=0-0", [(0, 0)]),
    ("bytes=0-9", [(0, 9)]),
    ("bytes=5-", [(5, None)]),
    ("bytes=-5", [(None, 5)]),
    ("BYTES = 1-2, 4-", [(1, 2), (4, None)]),
    ("bytes=-0", [(None, 0)]),
    ("bytes = 0 - 1 , 4 - 5", [(0, 1), (4, 5)]),  # spaces anywhere are ignored (Swift)
    ("bytes=0-0,0-0", [(0, 0), (0, 0)]),
])
def test_valid_headers(header, specs):
    assert parse_range_header(header) == [ByteRangeSpec(*s) for s in specs]


@pytest.mark.parametrize("header", [
    None, "", "bytes", "bytes=", "bytes=,", "items=0-1", "bytes=a-b", "bytes=5", "bytes=-",
    "bytes=9-3", "bytes=+1-2", "bytes=1-+2", "bytes=1_0-20", "bytes=١-٢", "bytes=1-2-3",
    "bytes=0-1,x", " =0-1",
    # Swift ignores the whole header for an empty element
    "bytes=1-2,,3-4", "bytes=0-1,", "bytes=,0-1",
])
def test_invalid_headers_are_ignored(header):
    assert parse_range_header(header) is None


def test_any_number_of_ranges_parses():
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES + 1))
    assert len(parse_range_header(many)) == MAX_RANGES + 1


@pytest.mark.parametrize("header, length, expected", [
    ("bytes=0-9", 100, [(0, 10)]),
    ("bytes=90-200", 100, [(90, 100)]),
    ("bytes=100-", 100, []),
    ("bytes=99-", 100, [(99, 100)]),
    ("bytes=-10", 100, [(90, 100)]),
    ("bytes=-1000", 100, [(0, 100)]),
    ("bytes=-0", 100, []),
    ("bytes=0-0,-1", 100, [(0, 1), (99, 100)]),
    ("bytes=200-300,0-1", 100, [(0, 2)]),
    ("bytes=0-", 0, []),
    ("bytes=-5", 0, []),
    ("bytes=5-1,0-1", 100, None),
])
def test_resolve(header, length, expected):
    specs = parse_range_header(header)
    if expected is None:
        assert specs is None
    else:
        assert resolve_ranges(specs, length) == expected


@pytest.mark.parametrize("header, length, expected", [
    (None, 10, None),                              # no Range: 200
    ("bytes=5-1", 10, None),                       # ignored: 200
    ("bytes=0-1,,4-5", 10, None),                  # ignored: 200
    ("bytes=20-30", 10, []),                       # 416
    ("bytes=-0", 10, []),                          # 416
    ("bytes=20-30,0-1", 10, [(0, 2)]),             # only the satisfiable one: 206 single
    ("bytes=0-1,4-5", 10, [(0, 2), (4, 6)]),       # 206 multipart
    ("bytes=0-5,3-8", 10, [(0, 6), (3, 9)]),       # one overlapping pair is served
    ("bytes=0-5,1-6,8-9", 10, [(0, 6), (1, 7), (8, 10)]),  # one pair overlaps: 206
    ("bytes=0-5,1-6,2-7", 10, []),                 # three overlapping pairs: 416
    ("bytes=0-9,0-9,0-9,0-9", 10, [(0, 10)] * 4),  # equal ranges do not count as overlapping
    ("bytes=-5", 0, None),                         # suffix of an empty body: 200
    ("bytes=0-", 0, []),                           # anything else of an empty body: 416
    ("bytes=0-0,-5", 0, None),
])
def test_ranges_to_serve(header, length, expected):
    assert ranges_to_serve(parse_range_header(header), length) == expected


def test_too_many_ranges_are_refused():
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES + 1))
    assert ranges_to_serve(parse_range_header(many), 1000) == []
    enough = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES))
    assert len(ranges_to_serve(parse_range_header(enough), 1000)) == MAX_RANGES
    # ranges beyond the body do not count
    beyond = enough + "," + ",".join(f"{i}-" for i in range(2000, 2010))
    assert len(ranges_to_serve(parse_range_header(beyond), 1000)) == MAX_RANGES


def test_ranges_out_of_order():
    few = [(i, i) for i in range(MAX_NONASCENDING_RANGES - 1)][::-1]
    header = "bytes=" + ",".join(f"{a}-{b}" for a, b in few)
    assert len(ranges_to_serve(parse_range_header(header), 100)) == len(few)
    more = [(i, i) for i in range(MAX_NONASCENDING_RANGES)]
    in_order = "bytes=" + ",".join(f"{a}-{b}" for a, b in more)
    assert len(ranges_to_serve(parse_range_header(in_order), 100)) == len(more)
    reversed_ = "bytes=" + ",".join(f"{a}-{b}" for a, b in more[::-1])
    assert ranges_to_serve(parse_range_header(reversed_), 100) == []


def test_content_range_values():
    assert content_range(0, 10, 50) == "bytes 0-9/50"
    assert unsatisfied_content_range(50) == "bytes */50"
    assert parse_content_range("bytes 0-9/50") == (0, 10, 50)
    for bad in ("bytes 9-0/50", "bytes 0-50/50", "bytes 0-9/*", "items 0-1/5", "bytes x"):
        with pytest.raises(ValueError):
            parse_content_range(bad)


# --- properties ---------------------------------------------------------------------

positions = st.integers(min_value=0, max_value=10 ** 12)
spec = st.one_of(
    st.tuples(positions, positions).map(lambda t: (min(t), max(t))),
    st.tuples(positions, st.none()),
    st.tuples(st.none(), positions),
)


def _render(first, last):
    return f"{'' if first is None else first}-{'' if last is None else last}"


@given(st.lists(spec, min_size=1, max_size=MAX_RANGES), st.sampled_from([",", ", ", " ,\t"]))
def test_render_then_parse_is_identity(specs, separator):
    header = "bytes=" + separator.join(_render(*s) for s in specs)
    assert parse_range_header(header) == [ByteRangeSpec(*s) for s in specs]


@given(st.text(max_size=60))
def test_parser_never_raises_on_arbitrary_text(text):
    result = parse_range_header(text)
    assert result is None or (1 <= len(result) <= MAX_RANGES)
    result = parse_range_header("bytes=" + text)
    assert result is None or all(isinstance(s, ByteRangeSpec) for s in result)


@given(st.lists(spec, min_size=1, max_size=10), st.integers(min_value=0, max_value=10 ** 6))
def test_resolved_ranges_lie_within_the_body(specs, length):
    resolved = resolve_ranges([ByteRangeSpec(*s) for s in specs], length)
    assert len(resolved) <= len(specs)
    for start, stop in resolved:
        assert 0 <= start < stop <= length
        assert parse_content_range(content_range(start, stop, length)) == (start, stop, length)


@given(st.lists(spec, min_size=1, max_size=60), st.integers(min_value=0, max_value=10 ** 6))
def test_served_ranges_follow_swifts_limits(specs, length):
    served = ranges_to_serve([ByteRangeSpec(*s) for s in specs], length)
    if served is None:  # only a suffix of an empty body is answered with the whole
        assert length == 0 and any(f is None and last for f, last in specs)
        return
    assert len(served) <= MAX_RANGES
    assert served == [] or served == resolve_ranges([ByteRangeSpec(*s) for s in specs],
                                                    length)
    overlaps = sum(1 for i, a in enumerate(served) for b in served[i + 1:]
                   if a[0] < b[0] < a[1] or a[0] < b[1] < a[1]
                   or b[0] < a[0] < b[1] or b[0] < a[1] < b[1])
    assert overlaps <= MAX_RANGE_OVERLAPS
