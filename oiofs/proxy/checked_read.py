"""Read-your-writes for replicated objects: a GET checked against a HEAD of other replicas.

A write is acknowledged once a quorum of replicas stored it; a replica that was down
(or missed the write for any reason) keeps its older version, or its copy of an object
deleted since, until the replicator comes by. A read that asked that one replica alone
would serve the old state. So :func:`read_checked` asks ``wanted`` replicas at once (a
quorum: 2 of 3), any two quorums sharing a replica:

* the first node gets the client's request (``GET`` or ``HEAD``, with its ``Range`` and
  conditions), each other one a plain ``HEAD``, all sent before any answer is read, so
  the check costs the time of one request, not two; for a replicated object that
  ``HEAD`` asks for the replica's state only (``X-Backend-State-Only``: the object
  server answers from the object's directory listing, without opening the file);
* a node that fails is replaced by the next node (same role), as in :meth:`Backend.read`;
* the newest state among the answers wins (:func:`oiofs.proxy.quorum.pick_newest`, by
  ``X-Backend-Timestamp``, which counts a ``.meta`` of a POST and a tombstone): the
  first node's answer when it is the newest (also on a tie), else a 404 when a
  tombstone is newer than every copy, else the newer copy is fetched from the node that
  holds it (one more request, only while replicas disagree);
* a replica found behind the newest state (an older copy or tombstone, a copy of an
  object deleted since, or for a primary no copy at all) is repaired at once, in the
  background: the replica holding the newest state is asked to push its files to it
  (:func:`repair`, :mod:`oiofs.obj.repair_push`; the replicator's own push, so the
  object's metadata goes exactly as stored), so it stops disagreeing before the
  replicator's pass. The client's answer never waits for it.
* when no replica asked has a copy (404s, failures), the remaining nodes (primaries,
  then handoffs) are asked one at a time as before; a copy found there is served unless
  a tombstone seen earlier is newer.

Swift's readers do not do this (Swift reads one replica unless ``X-Newest``; its error
limiting keeps a node that failed out of reads for a minute instead).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    PUSH_TO_HEADER,
    REPLICATION_OP_HEADER,
    REPLICATION_OP_PUSH,
    STATE_ONLY_HEADER,
    TIMESTAMP_HEADER,
)
from oiofs.common.connection_pool import HTTPResponse
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import Backend, node_path
from oiofs.proxy.quorum import pick_newest, response_timestamp

#: what a push request tells of each replica to push to
PUSHED_NODE_KEYS = ("ip", "port", "device", "replication_ip", "replication_port")
#: the answer headers compared (the newest of them counts; object servers send both)
KEYS = (TIMESTAMP_HEADER.lower(), "x-timestamp")
#: client headers a check ``HEAD`` leaves out: it asks for the replica's state, whatever
#: the client's range or conditions
CONDITIONAL_HEADERS = frozenset(("range", "if-range", "if-match", "if-none-match",
                                 "if-modified-since", "if-unmodified-since"))


def check_headers_of(headers: dict) -> dict:
    """The headers of a check ``HEAD``: ``headers`` without ranges and conditions.

    >>> check_headers_of({"X-Trans-Id": "tx", "Range": "bytes=0-1", "If-Match": "x"})
    {'X-Trans-Id': 'tx'}
    """
    return {k: v for k, v in headers.items() if k.lower() not in CONDITIONAL_HEADERS}


def state_check_headers_of(headers: dict) -> dict:
    """The headers of a replicated object's check ``HEAD``: those of
    :func:`check_headers_of`, asking for the replica's state only
    (:data:`~oiofs.common.backend_protocol.STATE_ONLY_HEADER`: answered from the
    object's directory listing, the file left unopened).

    >>> state_check_headers_of({"X-Trans-Id": "tx", "Range": "bytes=0-1"})
    {'X-Trans-Id': 'tx', 'X-Backend-State-Only': 'true'}
    """
    check = check_headers_of(headers)
    check[STATE_ONLY_HEADER] = "true"
    return check


class CheckedAnswer:
    """One node's open answer in a checked read, and whether it is the first node's."""

    __slots__ = ("resp", "node", "first", "stamp")

    def __init__(self, resp: HTTPResponse, node: dict, first: bool):
        self.resp = resp
        self.node = node
        self.first = first
        self.stamp: Timestamp | None = response_timestamp(resp.headers, KEYS)

    @property
    def has_copy(self) -> bool:
        """Any answer but 404 says the replica holds the object (a 304 or 412 too)."""
        return self.resp.status != 404


def ask_quorum(backend: Backend, nodes: Iterator[dict], method: str, part: int,
               suffix: str, headers: dict, check_headers: dict, wanted: int,
               statuses: list[int], query: str = "") -> list[CheckedAnswer]:
    """Up to ``wanted`` open answers, all requests sent before any answer is read: the
    first node gets ``method`` with ``headers`` (and ``query``), the others ``HEAD`` with
    ``check_headers``; a node that fails is replaced by the next one of ``nodes`` in the
    same role (its 503 added to ``statuses``, as every answer's status is). The first
    node's answer, when there is one, comes first."""
    answers: list[CheckedAnswer] = []
    roles = [True] + [False] * (wanted - 1)
    while roles:
        batch = []
        for first in roles:
            node = next(nodes, None)
            if node is None:
                break
            batch.append((node, first))
        if not batch:
            break
        requests = [(node, method if first else "HEAD",
                     node_path(node, part, suffix, query if first else ""),
                     headers if first else check_headers) for node, first in batch]
        roles = []
        for (node, first), resp in zip(batch, backend.request_many(requests), strict=True):
            if resp is None:
                statuses.append(503)
                roles.append(first)
                continue
            statuses.append(resp.status)
            answers.append(CheckedAnswer(resp, node, first))
    answers.sort(key=lambda a: not a.first)  # the first node wins ties
    return answers


def read_checked(backend: Backend, nodes: Iterable[dict], method: str, part: int,
                 suffix: str, headers: dict, quorum: int, wanted: int,
                 same_copy: list[dict] | None = None, repair_stale: bool = True,
                 state_only: bool = False
                 ) -> tuple[HTTPResponse | None, dict | None, int]:
    """The newest answer among ``wanted`` replicas (module docstring), still open for
    streaming: ``(response, node, status)``, or ``(None, None, 404|503)``.

    ``same_copy`` (extended in place) gets the other nodes found holding the very version
    served: the first place to resume a body that breaks. ``repair_stale=False`` leaves
    replicas found behind alone (fragment archives are the reconstructor's).
    ``state_only`` makes the check ``HEAD`` s state-only ones (:func:`state_check_headers_of`:
    replicated objects only).
    """
    node_iter = iter(nodes)
    statuses: list[int] = []
    check_headers = state_check_headers_of(headers) if state_only else \
        check_headers_of(headers)
    answers = ask_quorum(backend, node_iter, method, part, suffix, headers,
                         check_headers, max(1, wanted), statuses)
    choice = pick_newest([(200 if a.has_copy else 404, a.stamp) for a in answers])
    tombstone = max((a.stamp for a in answers if not a.has_copy and a.stamp is not None),
                    default=None)
    chosen = answers[choice] if choice is not None else None
    for answer in answers:
        if answer is not chosen or not answer.first:
            answer.resp.discard()
    if repair_stale:
        _repair_found(backend, answers, chosen, tombstone, part, suffix, headers)
    if same_copy is not None and chosen is not None:
        same_copy.extend(a.node for a in answers
                         if a is not chosen and a.has_copy and a.stamp == chosen.stamp)
    if chosen is not None and chosen.first:
        return chosen.resp, chosen.node, chosen.resp.status
    if chosen is not None:  # a newer copy than the first node's: fetch it from its node
        resp = backend.request_one(chosen.node, method,
                                   node_path(chosen.node, part, suffix), headers)
        if resp is not None and resp.status != 404:
            return resp, chosen.node, resp.status
        if resp is not None:
            resp.discard()
    elif any(a.has_copy for a in answers):
        return None, None, 404  # deleted after every copy seen was written
    # no copy among the replicas asked: look further, one node at a time
    resp, node, status = backend.read(node_iter, method, part, suffix, headers, quorum,
                                      statuses=statuses)
    if resp is not None and tombstone is not None:
        found = response_timestamp(resp.headers, KEYS)
        if found is None or found < tombstone:
            resp.discard()
            return None, None, 404
    return resp, node, status


def _repair_found(backend: Backend, answers: list[CheckedAnswer],
                  chosen: CheckedAnswer | None, tombstone: Timestamp | None, part: int,
                  suffix: str, headers: dict) -> None:
    """Repair the replicas behind the newest state the answers show: the copy served,
    else the newest tombstone."""
    if chosen is not None and chosen.stamp is not None:
        repair(backend, chosen, stale_answers(answers, chosen.stamp, True), part, suffix,
               headers)
    elif chosen is None and tombstone is not None:
        holder = next(a for a in answers if not a.has_copy and a.stamp == tombstone)
        repair(backend, holder, stale_answers(answers, tombstone, False), part, suffix,
               headers)


def stale_answers(answers: list[CheckedAnswer], newest: Timestamp,
                  has_copy: bool) -> list[CheckedAnswer]:
    """The answers of replicas behind ``newest`` (a copy when ``has_copy``, else a
    tombstone): an older copy or tombstone, or for a copy also a primary holding nothing;
    never a failed node's (5xx) nor a handoff's 404."""
    stale = []
    for answer in answers:
        if answer.resp.status >= 500:
            continue
        if answer.stamp is not None:
            if answer.stamp < newest:
                stale.append(answer)
        elif has_copy and not answer.has_copy and "handoff_index" not in answer.node:
            stale.append(answer)
    return stale


class RecentRepairs:
    """The repairs this worker asked lately (``(path, stamp)``), so that a hot object read
    many times while a replica is behind is repaired once per ``period`` seconds."""

    def __init__(self, size: int = 1024, period: float = 5.0):
        self.size = size
        self.period = period
        self._asked: OrderedDict[tuple, float] = OrderedDict()

    def first_ask(self, key: tuple) -> bool:
        """True (and remembered) unless ``key`` was asked within ``period``."""
        now = time.monotonic()
        asked = self._asked.get(key)
        if asked is not None and now - asked < self.period:
            return False
        self._asked[key] = now
        self._asked.move_to_end(key)
        while len(self._asked) > self.size:
            self._asked.popitem(last=False)
        return True


RECENT_REPAIRS = RecentRepairs()


def repair(backend: Backend, source: CheckedAnswer, stale: list[CheckedAnswer], part: int,
           suffix: str, headers: dict) -> None:
    """Ask ``source`` (the replica holding the newest state) to push its files to the
    ``stale`` replicas, in the background (``REPLICATE`` with the ``push`` op,
    :mod:`oiofs.obj.repair_push`); the answer is not waited for."""
    if not stale or source.stamp is None or \
            not RECENT_REPAIRS.first_ask((source.node["device"], part, suffix,
                                          source.stamp.internal)):
        return
    push = check_headers_of(headers)
    push[REPLICATION_OP_HEADER] = REPLICATION_OP_PUSH
    push[PUSH_TO_HEADER] = json.dumps(
        [{key: a.node[key] for key in PUSHED_NODE_KEYS if key in a.node} for a in stale],
        separators=(",", ":"))
    node = source.node

    def send() -> None:
        resp = backend.request_one(node, "REPLICATE", node_path(node, part, suffix), push)
        if resp is not None:
            resp.discard()

    runtime.spawn_n(send)
