import pytest

from oiofs.common.ec_segments import SegmentLayout, SegmentSpan
from oiofs.common.storage_policy import StoragePolicyCollection

SEG = 4096


@pytest.fixture(scope="module")
def policy():
    policies = StoragePolicyCollection()
    policies.load({"storage-policy:0": {"name": "gold"},
                   "storage-policy:1": {"name": "ec", "policy_type": "erasure_coding",
                                        "ec_num_data_fragments": "4",
                                        "ec_num_parity_fragments": "2",
                                        "ec_object_segment_size": str(SEG)}})
    return policies.by_index[1]


def archive(policy, body: bytes, index: int) -> bytes:
    """Archive ``index`` as the writer builds it: one fragment per segment."""
    segments = [body[i:i + SEG] for i in range(0, len(body), SEG)] or [b""]
    return b"".join(policy.driver.encode(s)[index] for s in segments)


@pytest.mark.parametrize("length", [0, 1, 5, SEG - 1, SEG, SEG + 1, 3 * SEG + 7])
def test_layout_matches_what_the_writer_stores(policy, length):
    body = bytes(range(256)) * (length // 256 + 1)
    body = body[:length]
    layout = SegmentLayout.of(policy.driver, length, SEG)
    archives = [archive(policy, body, i) for i in range(6)]
    assert all(len(a) == layout.archive_length for a in archives)
    assert layout.segment_count == max(1, -(-length // SEG))
    # any k archives rebuild any segment from the bytes fragment_range names
    if length:
        for start, stop in ((0, length), (length - 1, length), (length // 2, length)):
            span = layout.span(start, stop)
            first, last = layout.fragment_range(span)
            out = b""
            offset = first
            for segment in range(span.first, span.last + 1):
                size = layout.fragment_len(segment)
                frags = [a[offset:offset + size] for a in archives[2:]]  # parity too
                out += policy.driver.decode(frags)
                offset += size
            assert offset == last
            assert out[span.skip:span.skip + span.length] == body[start:stop]


def test_span_arithmetic():
    layout = SegmentLayout(length=2500, segment_size=1000, fragment_size=330,
                           last_fragment_size=180)
    assert layout.span(0, 1) == SegmentSpan(0, 0, 0, 1)
    assert layout.span(999, 1001) == SegmentSpan(0, 1, 999, 2)
    assert layout.span(2000, 2500) == SegmentSpan(2, 2, 0, 500)
    assert layout.fragment_range(layout.span(2000, 2500)) == (660, 840)
    assert layout.archive_length == 840
    with pytest.raises(ValueError):
        SegmentLayout(10, 0, 1, 1)
