"""Read-your-writes for container listings: serve a listing a quorum of replicas agrees on.

Object servers tell every container replica of each PUT and DELETE; a replica that was
down misses those updates (async pendings wait for the updater) and, once back, lists
objects deleted since or misses new ones. Each container database keeps a *rows hash*
(the XOR of its rows' hashes, deleted rows included): two replicas with the same hash
hold the same rows. The container servers send it on GET and HEAD
(``X-Backend-Rows-Hash``), so :func:`read_listing_checked`:

* sends the client's ``GET``/``HEAD`` to the first node and a ``HEAD`` to the others of
  a quorum at once (:func:`oiofs.proxy.checked_read.ask_quorum`);
* serves the first node's answer when a quorum (itself included) has its hash: every
  acknowledged object write reached a quorum of container replicas, and any two quorums
  share one, so that state holds every acknowledged write;
* else asks the remaining primaries, one ``HEAD`` each, until a quorum agrees on a hash,
  and serves the listing of a node holding it (one more request, only while replicas
  disagree); a quorum of 404s answers 404;
* replicas that do not agree yet are asked again (``RECHECKS`` times): ones that differ
  only by updates in flight agree a few milliseconds later;
* replicas this proxy saw failing within ``error_suppression_interval`` (60 s) are
  asked last, the one that failed latest last of all: a replica back from an outage is
  the one behind, and under a steady flow of writes the replicas may disagree at every
  instant;
* the answer served is replaced by that of a replica seen with a newer put timestamp
  (a container PUT or POST moves it; a replica that missed one has old metadata and
  ACLs), whatever the rows say;
* when no quorum agrees even so, a ``GET`` is answered with the listing merged from
  the replicas asked that hold the container (or account) (:mod:`oiofs.proxy.
  merged_listing`: the newest row of each name wins), if they make a quorum with the
  primaries that answered 404;
* when that cannot be done (too few replicas answered, one failed during the merge, a
  ``HEAD``), or the first answer is neither 2xx nor 404 (a refused query: the request's
  own fault), the first node's answer is served, as before.

Swift reads a listing from one replica; it differs from oiofs here.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable

from oiofs.common.backend_protocol import ROWS_HASH_HEADER
from oiofs.common.connection_pool import HTTPResponse
from oiofs.proxy.backend import Backend, node_path
from oiofs.proxy.checked_read import CheckedAnswer, ask_quorum
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.merged_listing import (
    CONTAINER_ROWS,
    MergedAnswer,
    MergeFailed,
    RowKind,
    merged_listing,
)
from oiofs.proxy.quorum import read_failure_status

_HASH_KEY = ROWS_HASH_HEADER.lower()
_PUT_KEY = "x-put-timestamp"
#: the vote of a replica that has no such container
MISSING = "404"
#: how many times replicas that do not agree yet are asked again
RECHECKS = 2


def _vote(status: int, headers: dict) -> str | None:
    """What a replica's answer says about the database's rows (``None``: no opinion).

    >>> _vote(200, {"x-backend-rows-hash": "ab12"})
    'ab12'
    >>> _vote(404, {}), _vote(503, {}), _vote(204, {})
    ('404', None, None)
    """
    if status == 404:
        return MISSING
    if 200 <= status < 300:
        return headers.get(_HASH_KEY) or None
    return None


def existence_vote(status: int, headers: dict) -> str | None:
    """What a replica's answer says about the container's existence only (``None``: no
    opinion): the vote of a container's *info* (policy, ACLs, metadata) for an object
    request, where rows that differ by updates in flight do not matter. On a container
    taking writes the rows hashes of its replicas differ at almost every instant, and
    voting on them cost each info fetch up to nine ``HEAD``s (each of which also merges
    the replica's pending rows into sqlite).

    >>> existence_vote(204, {"x-backend-rows-hash": "ab12"}), existence_vote(404, {})
    ('live', '404')
    >>> existence_vote(503, {}) is None
    True
    """
    if status == 404:
        return MISSING
    if 200 <= status < 300:
        return "live"
    return None


def _put_stamp(status: int, headers: dict) -> str:
    """A live replica's put timestamp (a container PUT or POST moves it: the newest
    holds the newest metadata), ``""`` for any other answer. Normal form, fixed width:
    compared as text."""
    return headers.get(_PUT_KEY, "") if 200 <= status < 300 else ""


def read_listing_checked(backend: Backend, nodes: Iterable[dict], method: str, part: int,
                         suffix: str, headers: dict, quorum: int, replicas: int,
                         query: str = "", rows: RowKind = CONTAINER_ROWS,
                         vote: Callable[[int, dict], str | None] = _vote
                         ) -> tuple[HTTPResponse | MergedAnswer | None, int]:
    """A container's answer that a quorum of replicas agrees on (module docstring), or
    an account's with ``rows`` :data:`~oiofs.proxy.merged_listing.ACCOUNT_ROWS`:
    ``(response, status)``, the response still open, or ``(None, 404|503)``.

    ``vote`` says what the replicas must agree on: their rows (the default), or with
    :func:`existence_vote` only whether the container exists (the newest put timestamp
    still wins the metadata)."""
    node_iter = iter(nodes)
    # replicas this proxy saw failing lately go last: back from an outage, they are
    # the ones behind, which matters when writes in flight keep a quorum from agreeing
    limiter = backend.limiter
    first_nodes = sorted(itertools.islice(node_iter, replicas),
                         key=lambda node: limiter.fault_order(ErrorLimiter.key(node)))
    node_iter = itertools.chain(first_nodes, node_iter)
    statuses: list[int] = []
    answers = ask_quorum(backend, node_iter, method, part, suffix, headers, headers,
                         max(1, quorum), statuses, query)
    first = answers[0] if answers and answers[0].first else None
    for answer in answers:
        if answer is not first:
            answer.resp.discard()
    if first is None:  # no node answered the listing itself: the next ones may
        resp, _node, status = backend.read(node_iter, method, part, suffix, headers,
                                           quorum, query, statuses)
        return resp, status
    mine = vote(first.resp.status, first.resp.headers)
    if mine is None:
        return first.resp, first.resp.status
    puts = {ErrorLimiter.key(a.node): (a.node, _put_stamp(a.resp.status, a.resp.headers))
            for a in answers}
    others = [(a.node, vote(a.resp.status, a.resp.headers))
              for a in answers if a is not first]
    asked = len(answers)
    while _best(mine, others)[1] < quorum and asked < replicas:
        node = next(node_iter, None)
        if node is None:
            break
        asked += 1
        others += _head_votes(backend, [node], part, suffix, headers, statuses, puts, vote)
    for _ in range(RECHECKS):
        if not any(vote for _, vote in others) or _best(mine, others)[1] >= quorum:
            break
        # no quorum yet: replicas differing only by updates in flight agree a few
        # milliseconds later, so ask them again
        # (not a node that failed: a node that hangs would make the client wait again)
        others = _head_votes(backend, [node for node, v in others if v is not None],
                             part, suffix, headers, statuses, puts, vote)
    holders = {vote: node for node, vote in reversed(others) if vote is not None}
    votes = Counter([mine] + [vote for _, vote in others if vote is not None])
    winner, count = votes.most_common(1)[0]
    agreed = winner if count >= quorum else None
    if agreed == MISSING:
        first.resp.discard()
        return None, 404
    if agreed is None and method == "GET":
        merged = _merge(backend, first, mine, others, part, suffix, headers, quorum, query,
                        rows)
        if merged is not None:
            first.resp.discard()
            return merged, merged.status
    if mine != MISSING and agreed in (None, mine):
        return _newest_metadata(backend, first, puts, method, part, suffix, headers,
                                query)
    # the first node is behind, or lacks the container: ask a node holding the agreed
    # rows (any rows, when no quorum agrees)
    target = agreed or next((vote for vote in votes if vote != MISSING), None)
    resp = None
    if target is not None:
        node = holders[target]
        resp = backend.request_one(node, method, node_path(node, part, suffix, query),
                                   headers)
        if resp is not None and 200 <= resp.status < 300:
            first.resp.discard()
            return resp, resp.status
        statuses.append(503 if resp is None else resp.status)
        if resp is not None:
            resp.discard()
    if mine != MISSING:
        return _newest_metadata(backend, first, puts, method, part, suffix, headers,
                                query)
    first.resp.discard()
    return None, read_failure_status(statuses, quorum)


def _newest_metadata(backend: Backend, first: CheckedAnswer,
                     puts: dict[str, tuple[dict, str]], method: str, part: int,
                     suffix: str, headers: dict, query: str
                     ) -> tuple[HTTPResponse | None, int]:
    """``first``'s open answer, unless a replica seen has a newer put timestamp (the
    first one missed a container PUT or POST: its metadata, ACLs included, are old):
    then that replica's answer, the rows being the same or as good a choice."""
    mine = _put_stamp(first.resp.status, first.resp.headers)
    node, newest = max(puts.values(), key=lambda item: item[1])
    if newest <= mine:
        return first.resp, first.resp.status
    resp = backend.request_one(node, method, node_path(node, part, suffix, query), headers)
    if resp is not None and 200 <= resp.status < 300:
        first.resp.discard()
        return resp, resp.status
    if resp is not None:
        resp.discard()
    return first.resp, first.resp.status


def _merge(backend: Backend, first: CheckedAnswer, mine: str,
           others: list[tuple[dict, str | None]], part: int, suffix: str, headers: dict,
           quorum: int, query: str, rows: RowKind) -> MergedAnswer | None:
    """The listing merged from the replicas that answered with rows
    (:mod:`oiofs.proxy.merged_listing`), when they and the primaries that answered 404
    make a quorum; ``None`` when they do not, or when one fails during the merge."""
    holders = ([first.node] if mine != MISSING else []) + \
        [node for node, vote in others if vote not in (None, MISSING)]
    # a primary without the container never took a write of it; a handoff's 404 says
    # nothing of the primaries' writes
    missing = sum(vote == MISSING and "handoff_index" not in node
                  for node, vote in [(first.node, mine)] + others)
    if not holders or len(holders) + missing < quorum:
        return None
    try:
        return merged_listing(backend, holders, part, suffix, headers, query, [first.resp],
                              rows)
    except MergeFailed as err:
        backend.logger.warning("listing merge of %s failed: %s", suffix, err)
        return None


def _best(mine: str, others: list[tuple[dict, str | None]]) -> tuple[str, int]:
    """The most common vote and how many replicas gave it."""
    votes = Counter([mine] + [vote for _, vote in others if vote is not None])
    return votes.most_common(1)[0]


def _head_votes(backend: Backend, nodes: list[dict], part: int, suffix: str,
                headers: dict, statuses: list[int], puts: dict[str, tuple[dict, str]],
                vote: Callable[[int, dict], str | None] = _vote
                ) -> list[tuple[dict, str | None]]:
    """``(node, vote)`` of a ``HEAD`` of each of ``nodes``, sent all at once (and each
    answer's put timestamp into ``puts``)."""
    requests = [(node, "HEAD", node_path(node, part, suffix), headers) for node in nodes]
    result: list[tuple[dict, str | None]] = []
    for node, resp in zip(nodes, backend.request_many(requests), strict=True):
        statuses.append(503 if resp is None else resp.status)
        said = None
        if resp is not None:
            said = vote(resp.status, resp.headers)
            puts[ErrorLimiter.key(node)] = (node, _put_stamp(resp.status, resp.headers))
            resp.discard()
        result.append((node, said))
    return result
