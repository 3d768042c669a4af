"""A history checker for read-your-writes (Jepsen's idea, at our scale).

Concurrent clients record every operation they make on a few keys as an :class:`Op`:
when it was invoked, when it completed, and what it returned. :func:`check` then looks
for reads that no correct store could have given:

* a read (GET/HEAD) of a key must return the value of a write of that key (a deletion is
  a write of ``None``; before any write the key holds ``None``) that *had begun before
  the read ended* and that was *not overwritten by a write acknowledged before the read
  began*: a write ``W2`` overwrites ``W`` for sure when ``W2`` began after ``W`` ended
  (overlapping writes may be ordered either way: the store's timestamps decide);
* so a deleted object stays deleted: returning a value whose write was followed by an
  acknowledged deletion is an anomaly (counted apart, as ``resurrected``);
* a listing must show a key exactly when a read of the key at that moment could have
  returned a value (same rule), so it neither misses an acknowledged object nor shows
  one whose deletion was acknowledged.

A write that failed (5xx, timeout) may or may not have taken effect: its value is
allowed, but it never overwrites anything. Reads and listings that failed check nothing.

>>> w = Op("write", "k", value="v1", invoked=0.0, completed=1.0, ok=True)
>>> d = Op("delete", "k", invoked=2.0, completed=3.0, ok=True)
>>> r = Op("read", "k", value="v1", invoked=4.0, completed=5.0, ok=True)
>>> [a.kind for a in check([w, d, r])]
['resurrected']
>>> check([w, d, Op("read", "k", value=None, invoked=4.0, completed=5.0, ok=True)])
[]
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

WRITE_KINDS = ("write", "delete")


@dataclass
class Op:
    """One operation of a history.

    ``kind``: ``write`` (``value`` stored), ``delete``, ``read`` (``value`` read, ``None``
    for not found) or ``list`` (``keys`` listed; ``key`` unused). ``ok``: acknowledged
    (writes) or answered (reads, listings); a failed op checks nothing and overwrites
    nothing.
    """

    kind: str
    key: str
    value: str | None = None
    invoked: float = 0.0
    completed: float = 0.0
    ok: bool = False
    keys: frozenset[str] = frozenset()
    client: int = 0
    status: int = 0


@dataclass
class Anomaly:
    """An operation no correct store could have answered so, and why."""

    kind: str  # stale, resurrected, unknown, listing-missing, listing-extra
    op: Op
    detail: str = ""

    def __str__(self) -> str:
        op = self.op
        return (f"{self.kind}: client {op.client} {op.kind} {op.key!r} "
                f"[{op.invoked:.3f}, {op.completed:.3f}] -> "
                f"{op.value if op.kind != 'list' else sorted(op.keys)!r} ({self.detail})")


@dataclass
class History:
    """A thread-safe recorder of operations: ``with history.record(...) as op``."""

    ops: list[Op] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, kind: str, key: str = "", value: str | None = None,
              client: int = 0) -> Op:
        """A new operation, invoked now; fill ``ok``/``value``/``keys`` and call
        :meth:`end` when it completed."""
        return Op(kind, key, value, invoked=time.monotonic(), client=client)

    def end(self, op: Op) -> Op:
        """Mark ``op`` completed now and keep it."""
        op.completed = time.monotonic()
        with self.lock:
            self.ops.append(op)
        return op


def _writes_by_key(ops: list[Op]) -> dict[str, list[Op]]:
    writes: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind in WRITE_KINDS:
            writes[op.key].append(op)
    return writes


def allowed_values(writes: list[Op], invoked: float, completed: float
                   ) -> tuple[set[str | None], set[str | None]]:
    """``(allowed, overwritten)`` values of a key for a read over ``[invoked,
    completed]``, given every write of that key (:mod:`module docstring <.history>`).

    ``None`` stands for "absent" (a deletion, or no write yet).

    >>> w1 = Op("write", "k", "a", 0, 1, True)
    >>> w2 = Op("write", "k", "b", 2, 3, True)
    >>> sorted(allowed_values([w1, w2], 4, 5)[0])
    ['b']
    >>> sorted(allowed_values([w1, w2], 2.5, 5)[0])   # w2 not acknowledged yet
    ['a', 'b']
    """
    acked_before = [w for w in writes if w.ok and w.completed < invoked]
    allowed: set[str | None] = set()
    overwritten: set[str | None] = set()
    # the key's initial state: absent, overwritten by any write acknowledged before
    (overwritten if acked_before else allowed).add(None)
    for w in writes:
        if w.invoked >= completed:
            continue
        value = None if w.kind == "delete" else w.value
        if any(later.invoked > w.completed for later in acked_before):
            overwritten.add(value)
        else:
            allowed.add(value)
    return allowed, overwritten - allowed


def check(ops: list[Op]) -> list[Anomaly]:
    """Every anomaly of the history ``ops`` (empty when it is consistent)."""
    writes = _writes_by_key(ops)
    anomalies = []
    for op in ops:
        if not op.ok:
            continue
        if op.kind == "read":
            allowed, overwritten = allowed_values(writes[op.key], op.invoked, op.completed)
            if op.value in allowed:
                continue
            if op.value in overwritten:
                kind = "stale" if op.value is None else (
                    "resurrected" if None in _newest_acked(writes[op.key], op.invoked)
                    else "stale")
            else:
                kind = "unknown"
            anomalies.append(Anomaly(kind, op, f"allowed {sorted(map(str, allowed))}"))
        elif op.kind == "list":
            for key, key_writes in writes.items():
                allowed, _ = allowed_values(key_writes, op.invoked, op.completed)
                present = key in op.keys
                if present and not (allowed - {None}):
                    anomalies.append(Anomaly("listing-extra", op, f"{key} shown"))
                elif not present and None not in allowed:
                    anomalies.append(Anomaly("listing-missing", op, f"{key} missing"))
    return anomalies


def _newest_acked(writes: list[Op], before: float) -> set[str | None]:
    """Values of the writes acknowledged before ``before`` that no other such write
    follows for sure (the key's latest acknowledged states)."""
    acked = [w for w in writes if w.ok and w.completed < before]
    return {None if w.kind == "delete" else w.value for w in acked
            if not any(o.invoked > w.completed for o in acked)}


def summary(anomalies: list[Anomaly]) -> dict[str, int]:
    """Anomalies counted by kind."""
    return dict(Counter(a.kind for a in anomalies))
