"""Container and account listings through the real proxy, checked against Swift's rules.

The expected answers are computed here from the list of names (:func:`expected_listing`,
the rules stated the plain way), never copied from the server: a matrix of ``prefix``,
``delimiter`` (one and several characters), ``marker``, ``end_marker``, ``reverse`` and
``limit``, in json, xml and plain. Also: the advertised limits, account ``last_modified``
and container ``Last-Modified``.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import math
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode
from xml.etree import ElementTree

from tests.support.proxy_client import unique

FORMATS = ("json", "xml", "plain")


def expected_listing(names, prefix="", delimiter=None, marker=None, end_marker=None,
                     reverse=False, limit=None):
    """``[(kind, name)]`` (``kind`` ``name`` or ``subdir``) as Swift lists ``names``.

    Names in range (after ``marker``, before ``end_marker``; swapped with ``reverse``)
    that start with ``prefix``; a name with ``delimiter`` after the prefix is rolled up
    into the subdir ending at that delimiter, except the subdir equal to the lower marker
    (the one a client paging through subdirs sends back); sorted, reversed, cut.
    """
    lower, upper = (end_marker, marker) if reverse else (marker, end_marker)
    entries = set()
    for name in names:
        if not name.startswith(prefix or ""):
            continue
        if (lower and name <= lower) or (upper and name >= upper):
            continue
        at = name.find(delimiter, len(prefix or "")) if delimiter else -1
        if at < 0:
            entries.add(("name", name))
        elif name[:at + len(delimiter)] != lower:
            entries.add(("subdir", name[:at + len(delimiter)]))
    ordered = sorted(entries, key=lambda entry: entry[1], reverse=reverse)
    return ordered if limit is None else ordered[:limit]


def parse_listing(resp, fmt: str, entry_tag: str) -> list[tuple[str, str]]:
    """``[(kind, name)]`` of a listing body in ``fmt``, with the format's own checks."""
    if fmt == "plain":
        if resp.status == 204:
            assert resp.body == b""
            return []
        assert resp.status == 200 and resp.headers["content-type"].startswith("text/plain")
        lines = resp.body.decode("utf-8").split("\n")
        assert lines[-1] == ""
        # plain text cannot tell a subdir from a name: the kind is checked in json and xml
        return [("?", line) for line in lines[:-1]]
    assert resp.status == 200, resp
    if fmt == "json":
        assert resp.headers["content-type"].startswith("application/json")
        return [("subdir", r["subdir"]) if "subdir" in r else ("name", r["name"])
                for r in json.loads(resp.body)]
    assert resp.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(resp.body)
    out = []
    for element in root:
        if element.tag == "subdir":
            assert element.get("name") == element.findtext("name")
            out.append(("subdir", element.get("name")))
        else:
            assert element.tag == entry_tag
            out.append(("name", element.findtext("name")))
    return out


def matrix(prefixes, delimiters, markers, end_markers):
    """Every combination, each with a format and a limit taken in turn."""
    combos = itertools.product(prefixes, delimiters, markers, end_markers, (False, True))
    for i, (prefix, delimiter, marker, end_marker, reverse) in enumerate(combos):
        yield (prefix, delimiter, marker, end_marker, reverse, FORMATS[i % 3],
               (None, 1, 3)[(i // 3) % 3])


def query_of(prefix, delimiter, marker, end_marker, reverse, fmt, limit) -> str:
    params = {"format": fmt}
    for key, value in (("prefix", prefix), ("delimiter", delimiter), ("marker", marker),
                       ("end_marker", end_marker), ("limit", limit)):
        if value is not None:
            params[key] = value
    if reverse:
        params["reverse"] = "on"
    return "?" + urlencode(params)


def check(got, want, fmt, query):
    if fmt == "plain":
        want = [("?", name) for _kind, name in want]
    assert got == want, query


OBJECT_NAMES = ["a", "a-b", "a/b", "a/b/c", "a/c", "a--b--c", "a--c", "b", "b/", "b/a",
                "b/b/", "b/b/c", "c--d", "c-d", "d", "é/x", "é--"]


def test_container_listing_matrix(client):
    container = unique("lst")
    assert client.request("PUT", f"/{container}").status == 201
    for name in OBJECT_NAMES:
        assert client.request("PUT", f"/{container}/{name}", body=b"x").status == 201
    # markers equal to a subdir ("a/", "a--"; "b/" as the lower end when reversed) are
    # what a client paging through subdirs sends back: that subdir is not listed again
    for case in matrix((None, "a", "b/", "é"), (None, "/", "--"), (None, "a/", "a--", "b"),
                       (None, "b/", "b/b", "c")):
        prefix, delimiter, marker, end_marker, reverse, fmt, limit = case
        query = query_of(*case)
        resp = client.request("GET", f"/{container}{query}", quote_path=False)
        check(parse_listing(resp, fmt, "object"),
              expected_listing(OBJECT_NAMES, prefix, delimiter, marker, end_marker, reverse,
                               limit), fmt, query)
    # the same answers in every format for a few cases, kinds included
    for prefix, delimiter in ((None, "/"), ("a", "--"), ("b/", "/")):
        for fmt in FORMATS:
            query = query_of(prefix, delimiter, None, None, True, fmt, None)
            resp = client.request("GET", f"/{container}{query}", quote_path=False)
            check(parse_listing(resp, fmt, "object"),
                  expected_listing(OBJECT_NAMES, prefix, delimiter, reverse=True), fmt, query)


CONTAINER_SUFFIXES = ["a", "a-b", "a-b-c", "a--b", "a--c--d", "b", "b-", "b-a", "c"]


def test_account_listing_matrix(client):
    base = "lst" + uuid.uuid4().hex[:8] + "_"  # no "-" in it: the delimiters below
    names = [base + suffix for suffix in CONTAINER_SUFFIXES]
    for name in names:
        assert client.request("PUT", f"/{name}").status == 201
    for case in matrix(("", "a", "b-"), (None, "-", "--"), (None, "a-", "a--", "b"),
                       (None, "a--c", "b-")):
        prefix, delimiter, marker, end_marker, reverse, fmt, limit = case
        full = [base + prefix, delimiter, marker and base + marker,
                end_marker and base + end_marker, reverse, fmt, limit]
        query = query_of(*full)
        resp = client.request("GET", query, quote_path=False)
        check(parse_listing(resp, fmt, "container"),
              expected_listing(names, *full[:5], limit=limit), fmt, query)


def test_multi_character_delimiter_pages_through_subdirs(client):
    container = unique("lstpage")
    assert client.request("PUT", f"/{container}").status == 201
    names = ["x::1", "x::2", "y", "z::1::2"]
    for name in names:
        assert client.request("PUT", f"/{container}/{name}", body=b"").status == 201
    seen, marker = [], ""
    while True:
        resp = client.request("GET", f"/{container}?format=json&delimiter=::&limit=1&marker="
                                     f"{marker}", quote_path=False)
        page = json.loads(resp.body)
        if not page:
            break
        entry = page[0].get("subdir") or page[0]["name"]
        seen.append(entry)
        marker = entry
    assert seen == ["x::", "y", "z::"]


def test_limits_are_the_advertised_ones(cluster, client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)["swift"]
    container = unique("lstlimit")
    assert client.request("PUT", f"/{container}").status == 201
    for path, key in ((f"/{container}", "container_listing_limit"),
                      ("", "account_listing_limit")):
        limit = info[key]
        assert client.request("GET", f"{path}?limit={limit}", quote_path=False).status in \
            (200, 204)
        too_big = client.request("GET", f"{path}?limit={limit + 1}", quote_path=False)
        assert too_big.status == 412
        assert too_big.body == f"Maximum limit is {limit}".encode()
        # like Swift, a limit that is not a non-negative integer is ignored
        for ignored in ("abc", "-1"):
            assert client.request("GET", f"{path}?limit={ignored}",
                                  quote_path=False).status in (200, 204)


def iso_of_put_timestamp(value: str) -> str:
    """Swift's ISO form of a timestamp: UTC, always six decimals (no float rounding)."""
    seconds, _, fraction = value.partition(".")
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        (fraction + "000000")[:6]


def test_account_listing_last_modified(client):
    name = unique("lstmod")
    assert client.request("PUT", f"/{name}").status == 201
    put_ts = client.request("HEAD", f"/{name}").headers["x-put-timestamp"]
    rows = json.loads(client.request("GET", f"?format=json&prefix={name}",
                                     quote_path=False).body)
    assert rows == [{"name": name, "count": 0, "bytes": 0,
                     "last_modified": iso_of_put_timestamp(put_ts)}]
    root = ElementTree.fromstring(client.request("GET", f"?format=xml&prefix={name}",
                                                 quote_path=False).body)
    entry = root.find("container")
    assert [child.tag for child in entry] == ["name", "count", "bytes", "last_modified"]
    assert entry.findtext("last_modified") == iso_of_put_timestamp(put_ts)


def wait_for_next_second() -> None:
    """HTTP dates have a one-second resolution: let the clock pass a whole second."""
    now = time.time()
    time.sleep(math.floor(now) + 1.05 - now)


def last_modified(client, path: str) -> float:
    resp = client.request("HEAD", path)
    assert resp.status == 204
    return email.utils.parsedate_to_datetime(resp.headers["last-modified"]).timestamp()


def test_container_last_modified_follows_put_and_post(client):
    name = unique("lstlm")
    before = time.time()
    assert client.request("PUT", f"/{name}").status == 201
    created = last_modified(client, f"/{name}")
    assert math.floor(before) <= created <= math.ceil(time.time())
    wait_for_next_second()
    start = time.time()
    assert client.request("POST", f"/{name}", headers={"X-Container-Meta-A": "b"}
                          ).status == 204
    posted = last_modified(client, f"/{name}")
    assert posted > created and math.ceil(start) <= posted <= math.ceil(time.time())
    get = client.request("GET", f"/{name}")
    assert email.utils.parsedate_to_datetime(get.headers["last-modified"]).timestamp() \
        == posted
    wait_for_next_second()
    assert client.request("PUT", f"/{name}").status == 202
    assert last_modified(client, f"/{name}") > posted
