"""A container listing merged from several replicas, while they disagree (issue 15).

:mod:`oiofs.proxy.checked_listing` serves the listing of a replica whose rows a quorum
shares. Under a steady flow of writes after outages (no updater running) no quorum may
agree at any instant; then the listing is built here from the rows of every replica
asked that holds the container (at least a quorum with those that answered 404):

* each replica is asked for its *raw* rows (``X-Backend-Include-Deleted: true``,
  :data:`~oiofs.common.backend_protocol.INCLUDE_DELETED_HEADER`): deleted rows included,
  each with its encoded timestamps;
* for each name the rows are merged as the container replicator would merge them
  (:func:`oiofs.container.backend.merge_object_item`: the newest data, content-type and
  metadata timestamps win, each for its fields); a name whose newest row is a deletion
  is left out. An acknowledged object write's container updates are dealt so that a
  quorum of container replicas is named, and any two quorums share a replica, so the
  merge of a quorum holds the write and the newest timestamp tells whether it is
  deleted, as long as at most ``replicas - quorum`` of those updates failed (the
  object server does not wait for them: docs/proxy.md); every replica that answers is
  merged, not just a quorum, so a row that reached one answering replica is listed;
* pages: a replica that returned a full page (``count`` rows, at most
  :data:`PAGE_ROWS`) may hold more rows past its last name, so only the names up to
  the smallest such last name (the largest, in a reverse listing) are certain: those
  are kept, and the replicas cut short are asked for their next page until ``count``
  live names are certain or every replica is exhausted. A page served is thus exactly
  the merged state's, never short;
* prefix, marker, end_marker, delimiter, path, reverse and limit are applied by
  :func:`oiofs.common.db.listing.list_with_rules` over the merged rows, with the merge
  as its range query: a subdir is shown when a live merged row lies under it, so one
  that only a stale replica shows (an object deleted meanwhile) is not;
* the answer's headers (metadata, ACLs, counts) are those of the answer with the newest
  put timestamp; the counts remain one replica's (eventually consistent, as in Swift).

Account listings merge the same way (:data:`ACCOUNT_ROWS`): the raw rows of account
servers are container rows with their put and delete timestamps, merged as the account
replicator merges them (:func:`oiofs.account.backend.merge_container_item`); a container
whose newest timestamp is its deletion (and that holds no objects) is left out. Its
object and byte counts are those of the newest report, ties going to the replica asked
last (eventually consistent, as in Swift).

The merge is sans-IO (:class:`MergedRows`, over an :data:`Ask` callable);
:func:`merged_listing` does the requests. Swift reads a listing from one replica.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import unquote, urlencode

from oiofs.account import backend as account_db
from oiofs.common.backend_protocol import INCLUDE_DELETED_HEADER, LOWER_INCLUSIVE_HEADER
from oiofs.common.db.listing import Row, list_with_rules
from oiofs.common.db.listing_format import (
    RAW_ROW_KEYS,
    QueryParams,
    Record,
    account_row_to_record,
    get_listing_content_type,
    iter_listing_body,
    max_listing_limit,
    object_row_to_record,
    parse_listing_params,
)
from oiofs.common.exceptions import OiofsError
from oiofs.container import backend as container_db
from oiofs.proxy.backend import Backend, node_path

#: ``ask(queries, count, reverse)``: for each ``(replica, lower, lower_inclusive,
#: upper)`` the replica's raw rows (dicts, ``RAW_ROW_KEYS``) with ``lower < name``
#: (``<=`` if inclusive; no bound if ``None``) and ``name < upper``, at most ``count``,
#: in name order (descending when ``reverse``)
Query: TypeAlias = tuple[int, str | None, bool, str | None]
Ask = Callable[[list[Query], int, bool], list[list[dict]]]
#: raw rows asked of a replica at most per request: a delimiter listing jumps past each
#: subdir with a new range, so rows fetched past the first member are wasted
PAGE_ROWS = 1000
#: bytes allowed per raw row of a page read (names up to 1 KiB, content types, ETags)
ROW_BYTES = 4096


class MergeFailed(OiofsError):
    """A replica merged failed to answer a page: the merge cannot be trusted."""


def merge_rows(rows: Sequence[dict]) -> dict:
    """One object name's rows from several container replicas, merged as the
    replicator would merge them: each group of fields from the row with the newest
    timestamp for it.

    >>> old = {"name": "o", "created_at": "0000000001.00000", "size": 1,
    ...        "content_type": "t", "etag": "e", "deleted": 0}
    >>> gone = dict(old, created_at="0000000002.00000", size=0, deleted=1)
    >>> merge_rows([old, gone])["deleted"], merge_rows([gone, old])["deleted"]
    (1, 1)
    """
    merged = rows[0]
    for row in rows[1:]:
        if row["created_at"] == merged["created_at"]:
            continue  # the same row (the usual case: replicas mostly agree)
        newer = container_db.merge_object_item(row, dict(merged, storage_policy_index=0))
        if newer is not None:
            merged = newer
    return merged


def listing_row(row: dict) -> tuple:
    """The listing row ``(name, last_modified, size, content_type, etag)`` of a merged
    raw object row, as :meth:`ContainerBroker.list_objects_iter` gives it."""
    stamp = row["created_at"]
    if "+" in stamp or "-" in stamp:
        stamp = container_db.decode_timestamps(stamp)[2].internal
    return (row["name"], stamp, row["size"], row["content_type"], row["etag"])


def merge_account_rows(rows: Sequence[dict]) -> dict:
    """One container name's rows from several account replicas, merged as the account
    replicator would merge them: the newest put and delete timestamps, deleted when the
    delete is newer and the container holds no objects.

    >>> made = {"name": "c", "put_timestamp": "0000000001.00000", "deleted": 0,
    ...         "delete_timestamp": "0000000000.00000", "object_count": 0,
    ...         "bytes_used": 0, "storage_policy_index": 0}
    >>> gone = dict(made, delete_timestamp="0000000002.00000", deleted=1)
    >>> merge_account_rows([made, gone])["deleted"], merge_account_rows([gone, made])["deleted"]
    (1, 1)
    """
    merged = rows[0]
    for row in rows[1:]:
        newer = account_db.merge_container_item(row, merged)
        if newer is not None:
            merged = newer
    return merged


def account_listing_row(row: dict) -> tuple:
    """The listing row ``(name, object_count, bytes_used, put_timestamp, 0)`` of a merged
    raw container row, as :meth:`AccountBroker.list_containers_iter` gives it."""
    return (row["name"], row["object_count"], row["bytes_used"], row["put_timestamp"], 0)


class RowKind(NamedTuple):
    """How the raw rows of one kind of listing merge and show."""

    #: ``container`` (object rows) or ``account`` (container rows): limit, XML root tag
    kind: str
    #: the keys of a raw row
    keys: frozenset[str]
    merge: Callable[[Sequence[dict]], dict]
    listing_row: Callable[[dict], tuple]
    subdir_row: Callable[[str], tuple]
    record: Callable[[Sequence[Any]], Record]


CONTAINER_ROWS = RowKind("container", frozenset(RAW_ROW_KEYS), merge_rows, listing_row,
                         container_db.subdir_row, object_row_to_record)
ACCOUNT_ROWS = RowKind("account", frozenset(account_db.ROW_FIELDS), merge_account_rows,
                       account_listing_row, account_db.subdir_row, account_row_to_record)
#: by the proxy controller's ``server_type``
ROW_KINDS = {"container": CONTAINER_ROWS, "account": ACCOUNT_ROWS}


class MergedRows:
    """The merged live rows of ``replicas`` replicas, as a listing's range query."""

    def __init__(self, ask: Ask, replicas: int, rows: RowKind = CONTAINER_ROWS,
                 page_rows: int = PAGE_ROWS):
        self.ask = ask
        self.replicas = replicas
        self.rows = rows
        self.page_rows = page_rows
        #: raw rows fetched, merged rows served (figures for the caller's log)
        self.fetched = 0
        self.pages = 0

    def fetch(self, lower: str | None, inclusive: bool, upper: str | None, count: int,
              reverse: bool) -> list[Row]:
        """At most ``count`` merged live rows in the range, in name order: the contract
        of :data:`oiofs.common.db.listing.Fetch`."""
        if count <= 0:
            return []
        page_rows = min(count, self.page_rows)
        bounds: list[Query] = [(i, lower, inclusive, upper) for i in range(self.replicas)]
        buffers: list[list[dict]] = [[] for _ in range(self.replicas)]
        last: list[str | None] = [None] * self.replicas  # None: exhausted
        asking = list(range(self.replicas))
        result: list[Row] = []
        while True:
            if asking:
                pages = self.ask([bounds[i] for i in asking], page_rows, reverse)
                self.pages += len(asking)
                for i, page in zip(asking, pages, strict=True):
                    self.fetched += len(page)
                    buffers[i] = page
                    if len(page) < page_rows:
                        last[i] = None
                        continue
                    last[i] = page[-1]["name"]
                    _, low, incl, high = bounds[i]
                    bounds[i] = (i, low, incl, last[i]) if reverse \
                        else (i, last[i], False, high)
            cut = [name for name in last if name is not None]
            # names past the edge of a page cut short are not certain yet
            edge = (max(cut) if reverse else min(cut)) if cut else None
            by_name: dict[str, list[dict]] = {}
            for i in range(self.replicas):
                buffer = buffers[i]
                taken = 0
                for row in buffer:
                    if edge is not None and (row["name"] < edge if reverse
                                             else row["name"] > edge):
                        break
                    by_name.setdefault(row["name"], []).append(row)
                    taken += 1
                buffers[i] = buffer[taken:]
            for name in sorted(by_name, reverse=reverse):
                merged = self.rows.merge(by_name[name])
                if not merged["deleted"]:
                    result.append(self.rows.listing_row(merged))
            if edge is None or len(result) >= count:
                return result[:count]
            asking = [i for i in range(self.replicas)
                      if last[i] is not None and not buffers[i]]


class MergedAnswer:
    """A merged listing as the proxy relays a backend answer: ``status``, ``headers``
    (lower-case keys), ``items``, and a body known in full (a listing page, at most
    ``container_listing_limit`` entries)."""

    def __init__(self, status: int, items: list[tuple[str, str]], body: bytes):
        self.status = status
        self.items = items
        self.headers = {name.lower(): value for name, value in items}
        self._body = body
        self._offset = 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    @property
    def content_length(self) -> int:
        """Bytes of body still to come."""
        return len(self._body) - self._offset

    def read(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes of body; ``b''`` at its end."""
        data = self._body[self._offset:self._offset + size]
        self._offset += len(data)
        return data

    def read_all(self, limit: int = 1 << 30) -> bytes:
        """The rest of the body."""
        return self.read(len(self._body))

    def discard(self, limit: int = 0) -> None:
        """Drop the body (no connection behind it)."""
        self._offset = len(self._body)

    close = discard


def _range_query(lower: str | None, inclusive: bool, upper: str | None, count: int,
                 reverse: bool) -> tuple[str, bool]:
    """The query string of a raw rows request for a range, and whether it needs
    :data:`LOWER_INCLUSIVE_HEADER`.

    >>> _range_query("a", True, "b", 10, False)
    ('limit=10&marker=a&end_marker=b', True)
    >>> _range_query(None, False, "b", 5, True)
    ('limit=5&marker=b&reverse=on', False)
    """
    params: list[tuple[str, str]] = [("limit", str(count))]
    first, second = (upper, lower) if reverse else (lower, upper)
    if first is not None:
        params.append(("marker", first))
    if second is not None:
        params.append(("end_marker", second))
    if reverse:
        params.append(("reverse", "on"))
    return urlencode(params), inclusive and lower is not None


def merged_listing(backend: Backend, nodes: list[dict], part: int, suffix: str,
                   headers: dict, query: str, answers: list[Any],
                   rows: RowKind = CONTAINER_ROWS) -> MergedAnswer:
    """The client's listing (``query``, ``Accept`` in ``headers``) merged from the raw
    rows of ``nodes`` (container or account servers, by ``rows``); its headers from the
    answer with the newest put timestamp among ``answers`` (open or read answers, their
    heads only) and the pages read. :class:`MergeFailed` when a node fails to answer a
    page."""
    params = QueryParams(query)
    listing = parse_listing_params(params, max_listing_limit(rows.kind))
    content_type = get_listing_content_type(params, headers.get("Accept"))
    heads = [(a.headers, a.items) for a in answers if 200 <= a.status < 300]
    raw_headers = {k: v for k, v in headers.items() if k.lower() != "accept"}
    raw_headers[INCLUDE_DELETED_HEADER] = "true"

    def ask(queries: list[Query], count: int, reverse: bool) -> list[list[dict]]:
        requests = []
        for i, lower, inclusive, upper in queries:
            text, lower_inclusive = _range_query(lower, inclusive, upper, count, reverse)
            sent = dict(raw_headers)
            if lower_inclusive:
                sent[LOWER_INCLUSIVE_HEADER] = "true"
            requests.append((nodes[i], "GET", node_path(nodes[i], part, suffix, text),
                             sent))
        pages = []
        for (node, _, path, _), resp in zip(requests, backend.request_many(requests),
                                            strict=True):
            if resp is None or resp.status != 200:
                if resp is not None:
                    resp.discard()
                raise MergeFailed(f"{node['ip']}:{node['port']}{path}: "
                                  f"{'failed' if resp is None else resp.status}")
            heads.append((resp.headers, resp.items))
            try:
                page = json.loads(resp.read_all(limit=count * ROW_BYTES + 1024))
            except (OSError, OiofsError, ValueError) as err:
                raise MergeFailed(f"{node['ip']}:{node['port']}{path}: {err}") from err
            # a server that does not know the raw form sends its usual listing
            if not isinstance(page, list) or not all(
                    isinstance(row, dict) and row.keys() >= rows.keys for row in page):
                raise MergeFailed(f"{node['ip']}:{node['port']}{path}: not raw rows")
            pages.append(page)
        return pages

    merged = MergedRows(ask, len(nodes), rows)
    # an account listing has no ``path``
    path = listing.path if rows is CONTAINER_ROWS else None
    found = list_with_rules(merged.fetch, listing.limit, listing.marker,
                            listing.end_marker, listing.prefix, listing.delimiter, path,
                            listing.reverse, rows.subdir_row)
    if not heads:
        raise MergeFailed("no container answer to take the headers from")
    _, items = max(heads, key=lambda head: head[0].get("x-put-timestamp", ""))
    out = [(k, v) for k, v in items
           if k.lower() not in ("content-type", "content-length", "transfer-encoding")]
    out.append(("Content-Type", content_type + "; charset=utf-8"))
    if not found and content_type == "text/plain":
        out.append(("Content-Length", "0"))
        return MergedAnswer(204, out, b"")
    body = b"".join(iter_listing_body(map(rows.record, found), content_type, rows.kind,
                                      unquote(suffix.rsplit("/", 1)[-1])))
    out.append(("Content-Length", str(len(body))))
    return MergedAnswer(200, out, body)
