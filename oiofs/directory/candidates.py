"""Candidates for the replicas of one base, least filled first, grouped by domain.

:class:`CandidatePool` answers "the ``replicas`` services furthest below their share that
keep the placement rules" for base after base, as a bootstrap asks 65,536 times. It gives
the same answer as sorting every service by fill and keeping the first that fit, but
services wait in one heap per domain (the location slice two replicas may not share)
under a heap of domains, so a domain the base already uses is skipped whole instead of
service by service.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Sequence

#: ``(fill, order)``: how full a service is against its share, then its listing order.
_Key = tuple[float, int]


class CandidatePool:
    """Services by domain; ``fill(sid)`` is re-read only for the services put back."""

    def __init__(self, services: Sequence[str], domain: Callable[[str], Hashable],
                 fill: Callable[[str], float]):
        self._domain = domain
        self._fill = fill
        self._order = {sid: index for index, sid in enumerate(services)}
        self._heaps: dict[Hashable, list[tuple[float, int, str]]] = {}
        for sid in services:
            self._heaps.setdefault(domain(sid), []).append((fill(sid), self._order[sid], sid))
        self._version = dict.fromkeys(self._heaps, 0)
        # One valid entry per domain: its best key; older entries are skipped when met.
        self._top: list[tuple[_Key, int, int, Hashable]] = []
        self._rank = {dom: index for index, dom in enumerate(self._heaps)}
        for dom, heap in self._heaps.items():
            heapq.heapify(heap)
            self._announce(dom)

    def _announce(self, dom: Hashable) -> None:
        self._version[dom] += 1
        heap = self._heaps[dom]
        if heap:
            best = heap[0]
            heapq.heappush(self._top, ((best[0], best[1]), self._version[dom],
                                       self._rank[dom], dom))

    def pick(self, count: int, fits: Callable[[str, list[str]], bool]) -> list[str]:
        """Up to ``count`` services, best first, each accepted by ``fits(sid, chosen)``
        and from a domain none of the others uses. Call :meth:`put_back` with them
        once their fill changed."""
        chosen: list[str] = []
        used: set[Hashable] = set()
        passed = []
        aside: list[tuple[Hashable, tuple[float, int, str]]] = []
        while len(chosen) < count and self._top:
            entry = heapq.heappop(self._top)
            dom = entry[3]
            if entry[1] != self._version[dom]:
                continue  # an older announcement of that domain
            if dom in used:
                passed.append(entry)
                continue
            candidate = heapq.heappop(self._heaps[dom])
            if fits(candidate[2], chosen):
                chosen.append(candidate[2])
                used.add(dom)
            else:
                aside.append((dom, candidate))
            self._announce(dom)
        for entry in passed:
            heapq.heappush(self._top, entry)
        for dom, candidate in aside:
            heapq.heappush(self._heaps[dom], candidate)
            self._announce(dom)
        return chosen

    def put_back(self, services: Sequence[str]) -> None:
        """Return picked services to the pool with their new fill."""
        for sid in services:
            dom = self._domain(sid)
            heapq.heappush(self._heaps[dom], (self._fill(sid), self._order[sid], sid))
            self._announce(dom)
