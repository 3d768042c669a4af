"""Deciding what the client hears from several backend answers (no I/O here).

A write goes to ``replicas`` nodes and succeeds when a *quorum* of them agree:
``replicas // 2 + 1`` (2 of 3), so any two successful writes overlap any two reads of the
same replicas. :func:`best_status` picks the answer: the first class of statuses (2xx, then
3xx, then 4xx) that a quorum of nodes gave; node faults (5xx) never form an answer, and
without a quorum the client gets 503.
"""

from __future__ import annotations

from oiofs.common.backend_protocol import TIMESTAMP_HEADER
from oiofs.common.exceptions import InvalidTimestamp
from oiofs.common.timestamp import Timestamp

SERVICE_UNAVAILABLE = 503


def quorum_size(replicas: int) -> int:
    """How many nodes must agree for a write to a ring with ``replicas`` copies."""
    return replicas // 2 + 1


def is_node_fault(status: int) -> bool:
    """True for answers that count against the node (5xx, 507), not against the request."""
    return status >= 500


def best_status(statuses: list[int], quorum: int) -> int:
    """The status to answer: the highest of the first class a quorum agrees on, else 503.

    >>> best_status([201, 201, 503], 2)
    201
    >>> best_status([204, 404, 404], 2)
    404
    >>> best_status([201, 503, 503], 2)
    503
    """
    for low in (100, 200, 300, 400):
        in_class = [s for s in statuses if low <= s < low + 100]
        if len(in_class) >= quorum:
            return max(in_class)
    return SERVICE_UNAVAILABLE


def read_failure_status(statuses: list[int], quorum: int) -> int:
    """The answer of a read that found no good copy: 404 if enough nodes said so, else 503.

    Something is reported missing when a quorum of nodes answered 404, or when every node
    that answered said 404; if nodes failed and too few said 404, it may well exist (503).
    """
    missing = sum(1 for s in statuses if s == 404)
    faults = sum(1 for s in statuses if s >= 500)
    if missing >= quorum or (missing and not faults):
        return 404
    return SERVICE_UNAVAILABLE


def response_timestamp(headers: dict, keys=(TIMESTAMP_HEADER.lower(), "x-timestamp")) -> \
        Timestamp | None:
    """The newest timestamp an answer carries under ``keys`` (lower-case names)."""
    best = None
    for key in keys:
        value = headers.get(key)
        if value:
            try:
                stamp = Timestamp(value)
            except InvalidTimestamp:
                continue
            if best is None or stamp > best:
                best = stamp
    return best


def pick_newest(candidates: list[tuple[int, Timestamp | None]]) -> int | None:
    """Index of the answer to serve among ``(status, timestamp)`` pairs, or ``None``.

    The newest 2xx wins; but if a 404 carries a tombstone newer than every 2xx, the object
    was deleted after those copies were written, and ``None`` says "answer 404": an old
    copy must never be resurrected by an ``X-Newest`` read.
    """
    best_index = None
    best_stamp = None
    newest_tombstone = None
    for index, (status, stamp) in enumerate(candidates):
        if 200 <= status < 300:
            if best_index is None or (stamp is not None and (best_stamp is None or
                                                              stamp > best_stamp)):
                best_index, best_stamp = index, stamp
        elif status == 404 and stamp is not None:
            if newest_tombstone is None or stamp > newest_tombstone:
                newest_tombstone = stamp
    if best_index is None:
        return None
    if newest_tombstone is not None and (best_stamp is None or newest_tombstone > best_stamp):
        return None
    return best_index
