"""Which storage policy a container keeps when its replicas disagree (sans-IO).

Replicas of one container can be created with different policies on both sides of a
network split (each side's proxy asks the replicas it reaches). Replication must then
pick one policy for every replica, the same whichever pair of replicas meets first, and
the objects stored in the other policy become *misplaced* (the container-reconciler
moves them, ``docs/storage-policies.md``).

The rule compares two replica states (``put_timestamp``, ``delete_timestamp``,
``status_changed_at``, the object ``count`` and ``storage_policy_index``):

1. a live replica beats a deleted one (deleted: no objects and a delete newer than its
   last PUT); of two deleted replicas the most recent status change wins;
2. of two live ones, one that was *recreated* (PUT again after a delete) beats one that
   was never deleted: the recreation is the user's latest choice of policy; of two
   recreated ones the most recent status change wins;
3. of two replicas never deleted, the earliest status change wins: the first creation,
   which the clients of that container saw first;
4. on equal status-change times, the lower policy index wins (so every pair agrees).

Rules 1-3 follow Swift's; rule 4 is ours (without it, two replicas with equal times could
each keep their own policy).

>>> old = {"put_timestamp": "1", "delete_timestamp": "0", "status_changed_at": "1",
...        "count": 0, "storage_policy_index": 1}
>>> new = dict(old, put_timestamp="2", status_changed_at="2", storage_policy_index=0)
>>> remote_policy_wins(new, old)
True
>>> remote_policy_wins(old, new)
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oiofs.common.backend_protocol import (
    DELETE_TIMESTAMP_HEADER,
    POLICY_INDEX_HEADER,
    PUT_TIMESTAMP_HEADER,
    STATUS_CHANGED_AT_HEADER,
)
from oiofs.common.db.broker import zero_like
from oiofs.common.timestamp import Timestamp


def _deleted(state: Mapping[str, Any]) -> bool:
    count = state.get("count", state.get("object_count", 0))
    return zero_like(count) and Timestamp(state["delete_timestamp"]) > Timestamp(
        state["put_timestamp"])


def _recreated(state: Mapping[str, Any]) -> bool:
    delete = Timestamp(state["delete_timestamp"])
    return Timestamp(state["put_timestamp"]) > delete > Timestamp(0)


def _changed(state: Mapping[str, Any]) -> Timestamp:
    return Timestamp(state["status_changed_at"])


def remote_policy_wins(local: Mapping[str, Any], remote: Mapping[str, Any]) -> bool:
    """True if the replica ``local`` should take ``remote``'s storage policy (module
    docstring). False when both have the same policy."""
    mine, theirs = int(local["storage_policy_index"]), int(remote["storage_policy_index"])
    if mine == theirs:
        return False
    for kind in (_deleted, _recreated):
        local_is, remote_is = kind(local), kind(remote)
        if local_is != remote_is:
            # a deleted replica loses; a recreated one wins
            return local_is if kind is _deleted else remote_is
        if local_is:
            if _changed(local) != _changed(remote):
                return _changed(remote) > _changed(local)
            return theirs < mine
    if _changed(local) != _changed(remote):
        return _changed(remote) < _changed(local)
    return theirs < mine


def state_from_headers(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """A replica's state from a container server's HEAD answer (lower-case header
    names, 204 or 404 alike); ``None`` if the answer does not carry one."""
    try:
        return {"put_timestamp": headers[PUT_TIMESTAMP_HEADER.lower()],
                "delete_timestamp": headers[DELETE_TIMESTAMP_HEADER.lower()],
                "status_changed_at": headers[STATUS_CHANGED_AT_HEADER.lower()],
                "count": int(headers.get("x-container-object-count", "0")),
                "storage_policy_index": int(headers[POLICY_INDEX_HEADER.lower()])}
    except (KeyError, ValueError):
        return None


def best_policy(states: list[Mapping[str, Any]]) -> int | None:
    """The policy every replica settles on, from the states of those that answered
    (:func:`remote_policy_wins` applied in turn); ``None`` without any state."""
    if not states:
        return None
    winner = states[0]
    for state in states[1:]:
        if remote_policy_wins(winner, state):
            winner = state
    return int(winner["storage_policy_index"])
