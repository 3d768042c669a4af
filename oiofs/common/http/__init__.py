"""Sans-IO HTTP helpers shared by the servers and the proxy.

Plain functions and small classes, testable without a socket:

* :mod:`~oiofs.common.http.etag` - quoting entity tags, matching ``If-Match`` lists;
* :mod:`~oiofs.common.http.ranges` - parsing ``Range``, resolving it against a length,
  deciding what to serve (200, 206 or 416, Swift's rules), ``Content-Range`` values;
* :mod:`~oiofs.common.http.conditional` - RFC 7232 precondition evaluation, ``If-Range``;
* :mod:`~oiofs.common.http.multipart` - laying out and reading ``multipart/byteranges``.
"""

from oiofs.common.http.conditional import Precondition, evaluate_preconditions, if_range_allows
from oiofs.common.http.etag import etag_matches, parse_etag_list, quote_etag, unquote_etag
from oiofs.common.http.multipart import (
    ByteRangesLayout,
    boundary_from_content_type,
    byteranges_content_type,
    iter_byterange_parts,
    make_boundary,
)
from oiofs.common.http.ranges import (
    MAX_RANGES,
    ByteRangeSpec,
    content_range,
    parse_content_range,
    parse_range_header,
    ranges_to_serve,
    resolve_ranges,
    unsatisfied_content_range,
)

__all__ = [
    "MAX_RANGES", "ByteRangeSpec", "ByteRangesLayout", "Precondition",
    "boundary_from_content_type", "byteranges_content_type", "content_range",
    "etag_matches", "evaluate_preconditions", "if_range_allows", "iter_byterange_parts",
    "make_boundary", "parse_content_range", "parse_etag_list", "parse_range_header",
    "quote_etag", "ranges_to_serve", "resolve_ranges", "unquote_etag",
    "unsatisfied_content_range",
]
