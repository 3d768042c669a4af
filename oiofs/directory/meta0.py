"""The meta0 prefix mapping: which services hold each base, spread over locations.

(Past 600 lines on purpose: ``Meta0PrefixMapping`` is the seed's one class with this whole
surface; its helpers already live in :mod:`~oiofs.directory.prefixes`,
:mod:`~oiofs.directory.locations` and :mod:`~oiofs.directory.fair_share`.)

``Meta0PrefixMapping`` keeps, for every base (see :mod:`oiofs.directory.prefixes`), the
ordered list of ``replicas`` service ids holding it, and the algorithms that build and
repair it: :meth:`~Meta0PrefixMapping.bootstrap`, :meth:`~Meta0PrefixMapping.rebalance`,
:meth:`~Meta0PrefixMapping.decommission`. ``Meta0Client`` keeps the mapping itself
(``force``, ``list``) in a :mod:`store <oiofs.directory.meta0_store>`.

Where services come from (the interface the directory's conscience client plugs into):
``conscience_client`` is an object with ``list_services(service_type) -> list[dict]`` or a
plain callable ``(service_type) -> list[dict]``. Each dict describes one service::

    {"id": "127.0.0.1:6201/sdb1",      # optional, defaults to addr
     "addr": "127.0.0.1:6201",         # ip:port (IPv6 as [::1]:6201)
     "score": 87,                      # 0 = down or locked: never given new bases
     "tags": {"tag.loc": "r1.z1.host1.sdb1"}}   # region.zone.host.device

Placement rules, for every base:

- its ``replicas`` services are distinct and every two are at least ``min_dist`` location
  levels apart (:func:`~oiofs.directory.locations.dist_between`): 1 = other device,
  2 = other host, 3 = other zone, 4 = other region -- a hard rule, never broken;
- after ``bootstrap(level, degradation)``, its replicas also sit in distinct slices of
  ``level`` where there are enough slices (``degradation`` slices fewer than replicas
  are tolerated, the replicas then share slices as evenly as possible);
- each service holds about its fair share of the bases (:mod:`~oiofs.directory.fair_share`):
  the mean when no location is too big to hold its proportional part, and within one base
  of its share after a rebalance that could make every move it wanted.

>>> svcs = [{"addr": f"127.0.0.1:{6000 + i}", "score": 10,
...          "tags": {"tag.loc": f"r1.z1.h{i % 3}.d{i}"}} for i in range(6)]
>>> m = Meta0PrefixMapping(None, replicas=3, digits=1, min_dist=2, services=svcs)
>>> m.bootstrap()
>>> sorted(set(m.count_pfx_by_svc().values()))
[8]
>>> m.check_replicas()
True

(About 600 lines: the seed's one class with its three algorithms, kept together so that
the placement rules read in one place; its helpers live in sibling modules: prefixes,
locations, fair_share, candidates, meta0_client, meta0_ring.)
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from oiofs.directory.candidates import CandidatePool
from oiofs.directory.fair_share import shares
from oiofs.directory.locations import (
    LEVELS,
    Location,
    dist_between,
    level_index,
    parse_location,
    service_location,
    slice_of,
)
from oiofs.directory.meta0_client import Meta0Client
from oiofs.directory.meta0_errors import Meta0Error, Meta0PlacementError
from oiofs.directory.prefixes import (
    PREFIX_DIGITS,
    check_digits,
    count_prefixes,
    generate_prefixes,
    generate_short_prefixes,
    normalize_prefix,
)
from oiofs.directory.prefixes import prefix_siblings as _siblings
from oiofs.directory.prefixes import prefix_to_base as _to_base

__all__ = ["Meta0Client", "Meta0PrefixMapping", "count_prefixes", "generate_prefixes",
           "generate_short_prefixes"]

logger = logging.getLogger("oiofs.directory.meta0")

#: ``progress(done, total)``: called now and then by long operations.
Progress = Callable[[int, int], None]
#: ``strategy(known=[...]) -> [...]``: the services a base should have, ``known`` kept.
Strategy = Callable[..., list[str]]
_PROGRESS_EVERY = 4096


@runtime_checkable
class ServiceSource(Protocol):
    """What the mapping needs from the conscience."""

    def list_services(self, service_type: str) -> list[dict[str, Any]]: ...


def _service_id(svc: Mapping[str, Any]) -> str:
    sid = svc.get("id") or svc.get("addr")
    if not isinstance(sid, str) or not sid:
        raise Meta0Error(f"a service needs an id or an addr: {dict(svc)!r}")
    return sid


class Meta0PrefixMapping:
    """The content of meta0: base -> ordered list of ``replicas`` service ids.

    ``digits`` (0-4, default 4) is how many hex digits name a base. ``services`` (a list
    of descriptions) or ``conscience_client`` give the services; ``service_type`` is what
    the conscience is asked for.
    """

    def __init__(self, meta0_client: Meta0Client | None, replicas: int = 3,
                 digits: int | None = None, min_dist: int = 1,
                 conscience_client: ServiceSource | Callable[[str], list[dict[str, Any]]]
                 | None = None, service_type: str = "container",
                 services: Iterable[Mapping[str, Any]] | None = None,
                 logger: logging.Logger | None = None, **_kwargs: Any):
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise Meta0Error(f"invalid replicas {replicas!r}: expected an integer >= 1")
        if isinstance(min_dist, bool) or not isinstance(min_dist, int) \
                or not 0 <= min_dist <= len(LEVELS):
            raise Meta0Error(f"invalid min_dist {min_dist!r}: expected 0 to {len(LEVELS)}")
        self.meta0 = meta0_client
        self.replicas = replicas
        self.digits = check_digits(PREFIX_DIGITS if digits is None else digits)
        self.min_dist = min_dist
        self.conscience = conscience_client
        self.service_type = service_type
        self.logger = logger or globals()["logger"]
        #: Spread level and tolerated missing slices set by :meth:`bootstrap`.
        self.level = len(LEVELS) - 1
        self.degradation = 0
        self.services: dict[str, dict[str, Any]] = {}
        self.raw_services_by_base: dict[str, list[str]] = {}
        self._locs: dict[str, Location] = {}
        self._bases_of: dict[str, dict[str, None]] = {}
        #: Services :meth:`decommission` emptied: no base goes to them any more.
        self.decommissioned: set[str] = set()
        self._targets: dict[str, float] | None = None
        self._key_cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._keys_for: tuple[int, int] | None = None
        self.reset(services)

    # --- services -------------------------------------------------------------------

    def reset(self, services: Iterable[Mapping[str, Any]] | None = None) -> None:
        """Forget every assignment and reload the services (from ``services`` if given,
        else from the conscience client, else none)."""
        if services is None and self.conscience is not None:
            if isinstance(self.conscience, ServiceSource):
                services = self.conscience.list_services(self.service_type)
            else:
                services = self.conscience(self.service_type)
        self.raw_services_by_base = {}
        self._bases_of = {}
        self.decommissioned = set()
        self.set_services(services or [])

    def set_services(self, services: Iterable[Mapping[str, Any]]) -> None:
        """Replace the known service descriptions, keeping the assignments."""
        self.services = {}
        self._locs = {}
        self._key_cache = {}
        for svc in services:
            sid = _service_id(svc)
            if sid in self.services:
                raise Meta0Error(f"service {sid} is listed twice")
            self.services[sid] = dict(svc, id=sid)
            self._locs[sid] = self._parse_loc(sid)
        self._targets = None

    def _parse_loc(self, sid: str) -> Location:
        return parse_location(self.get_loc(sid))

    def get_loc(self, svc: str | Mapping[str, Any], default: str | None = None) -> str:
        """A service's location; without one its address (``default`` None or ``"addr"``)
        or ``default``."""
        desc = self.services.get(svc, {"id": svc}) if isinstance(svc, str) else svc
        loc = service_location(desc)
        if loc:
            return loc
        if default is None or default == "addr":
            # Dots would split the address into levels: keep it one device token.
            return str(desc.get("addr") or desc.get("id")).replace(".", "_")
        return default

    def parsed_loc(self, sid: str) -> Location:
        """A service's location as four tokens (cached)."""
        loc = self._locs.get(sid)
        if loc is None:
            loc = self._locs[sid] = self._parse_loc(sid)
        return loc

    def get_score(self, svc: str) -> int:
        """The score of a service, 0 if it is unknown or decommissioned."""
        desc = self.services.get(svc)
        if desc is None or svc in self.decommissioned:
            return 0
        try:
            return int(desc.get("score", 0))
        except (TypeError, ValueError):
            return 0

    def _eligible(self, min_score: int = 1) -> list[str]:
        return [sid for sid in self.services if self.get_score(sid) >= min_score]

    @staticmethod
    def dist_between(loc1: str | Sequence[str], loc2: str | Sequence[str]) -> int:
        """See :func:`oiofs.directory.locations.dist_between`."""
        return dist_between(loc1, loc2)

    # --- bases ----------------------------------------------------------------------

    def num_bases(self) -> int:
        """How many bases the mapping has (``16 ** digits``)."""
        return count_prefixes(self.digits)

    def prefix_to_base(self, pfx: str) -> str:
        """The base prefix ``pfx`` is kept in (``pfx`` itself when ``digits`` is 4)."""
        return _to_base(pfx, self.digits)

    def prefix_siblings(self, pfx: str) -> list[str]:
        """Every prefix kept in the same base as ``pfx``."""
        return _siblings(pfx, self.digits)

    def _check_base(self, base: str) -> str:
        norm = normalize_prefix(base)
        if self.prefix_to_base(norm) != norm:
            raise Meta0Error(f"{base} is not a base of a {self.digits}-digit mapping")
        return norm

    def get_managed_bases(self, svc: str) -> list[str]:
        """The bases ``svc`` holds, ascending."""
        return sorted(self._bases_of.get(svc, ()))

    def count_pfx_by_svc(self) -> dict[str, int]:
        """Service id -> how many bases it holds (every known service, 0 included)."""
        counts = dict.fromkeys(self.services, 0)
        counts.update({sid: len(bases) for sid, bases in self._bases_of.items() if bases})
        return counts

    def assign_services(self, base: str, services: Sequence[str],
                        fail_if_already_set: bool = False) -> None:
        """Make ``services`` (in that replica order) hold ``base``.

        Raises :class:`Meta0Error` (a ValueError) if ``fail_if_already_set`` and the base
        already has services.
        """
        base = self._check_base(base)
        old = self.raw_services_by_base.get(base)
        if old and fail_if_already_set:
            raise Meta0Error(f"base {base} is already held by {', '.join(old)}")
        if len(set(services)) != len(services):
            raise Meta0Error(f"base {base}: a service is listed twice in {list(services)}")
        for sid in old or ():
            self._bases_of[sid].pop(base, None)
        self.raw_services_by_base[base] = list(services)
        for sid in services:
            self._bases_of.setdefault(sid, {})[base] = None

    def _replace(self, base: str, old: str, new: str) -> None:
        slots = self.raw_services_by_base[base]
        slots[slots.index(old)] = new
        self._bases_of[old].pop(base, None)
        self._bases_of.setdefault(new, {})[base] = None

    # --- placement rules ------------------------------------------------------------

    def _slice_cap(self, eligible: Sequence[str]) -> int:
        """How many replicas of one base may share a slice of the spread level."""
        slices = {slice_of(self.parsed_loc(sid), self.level) for sid in eligible}
        return math.ceil(self.replicas / max(1, min(self.replicas, len(slices))))

    def _keys(self, sid: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(domain, slice)`` of a service: the domain no two replicas of a base may
        share (from ``min_dist``) and its slice of the spread level (cached)."""
        settings = (self.min_dist, self.level)
        if self._keys_for != settings:
            self._key_cache, self._keys_for = {}, settings
        keys = self._key_cache.get(sid)
        if keys is None:
            loc = self.parsed_loc(sid)
            domain = loc[:len(LEVELS) - self.min_dist + 1] if self.min_dist \
                else ("", "", "", "", sid)
            keys = self._key_cache[sid] = (domain, slice_of(loc, self.level))
        return keys

    def _domain(self, sid: str) -> tuple[str, ...]:
        return self._keys(sid)[0]

    def _fits(self, candidate: str, others: Sequence[str], slice_cap: int) -> bool:
        """May ``candidate`` hold a base whose other replicas are ``others``?

        Two locations are less than ``min_dist`` apart exactly when they share the
        domain of :meth:`_keys`, so comparing domains is comparing distances.
        """
        if candidate in others:
            return False
        domain, mine = self._keys(candidate)
        shared = 0
        for other in others:
            other_domain, other_slice = self._keys(other)
            if other_domain == domain:
                return False
            if other_slice == mine:
                shared += 1
        return shared < slice_cap

    def targets(self) -> dict[str, float]:
        """Fair share (bases) of every eligible service; see :mod:`.fair_share`."""
        if self._targets is None:
            eligible = self._eligible()
            bases = self.num_bases()
            caps: dict[int, float] = {}
            if self.min_dist:
                caps[len(LEVELS) - self.min_dist] = bases
            cap = self._slice_cap(eligible) * bases
            caps[self.level] = min(caps.get(self.level, cap), cap)
            self._targets = shares({sid: self.parsed_loc(sid) for sid in eligible},
                                   self.num_bases() * self.replicas, caps, bases)
        return self._targets

    def _fill(self, sid: str) -> float:
        target = self.targets().get(sid, 0.0)
        held = len(self._bases_of.get(sid, ()))
        return (held + 1) / target if target > 0 else math.inf

    def find_services_less_bases(self, known: Sequence[str] | None = None,
                                 min_score: int = 1, **_kwargs: Any) -> list[str]:
        """``replicas`` services for one base: ``known`` first, then the eligible services
        furthest below their fair share that keep the placement rules.

        Raises :class:`Meta0PlacementError` if no service fits a missing replica.
        """
        chosen = list(known or ())
        eligible = self._eligible(min_score)
        cap = self._slice_cap(eligible)
        for sid in sorted(eligible, key=self._fill):
            if len(chosen) >= self.replicas:
                break
            if self._fits(sid, chosen, cap):
                chosen.append(sid)
        if len(chosen) < self.replicas:
            raise Meta0PlacementError(
                f"no service can hold replica {len(chosen) + 1} next to {chosen} "
                f"(min_dist {self.min_dist}, {len(eligible)} eligible services)")
        return chosen

    # --- algorithms -----------------------------------------------------------------

    def bootstrap(self, level: str | int = "volume", degradation: int = 0,
                  progress: Progress | None = None) -> None:
        """Assign every base from scratch, then rebalance.

        Each base gets its replicas in distinct slices of ``level`` (region/site,
        zone/rack, host, device/volume); ``degradation`` is how many slices fewer than
        replicas are tolerated. Raises :class:`Meta0PlacementError` when the services
        cannot hold the bases under these rules and ``min_dist``.
        """
        self.level = level_index(level)
        if isinstance(degradation, bool) or not isinstance(degradation, int) \
                or degradation < 0:
            raise Meta0Error(f"invalid degradation {degradation!r}: expected an integer >= 0")
        self.degradation = degradation
        self._targets = None
        eligible = self._eligible()
        slices = {slice_of(self.parsed_loc(sid), self.level) for sid in eligible}
        if len(slices) < self.replicas - degradation:
            raise Meta0PlacementError(
                f"{len(slices)} {LEVELS[self.level]} slices hold services with a score, "
                f"{self.replicas} replicas need {self.replicas - degradation} "
                f"(degradation {degradation})")
        self.targets()  # refuses an impossible placement before any work
        self.raw_services_by_base = {}
        self._bases_of = {}
        total = self.num_bases()
        # The choices of find_services_less_bases, base after base, without sorting
        # every service for each: only the chosen services' fill changes.
        cap = self._slice_cap(eligible)
        pool = CandidatePool(eligible, self._domain, self._fill)
        for done, base in enumerate(generate_prefixes(self.digits), 1):
            chosen = pool.pick(self.replicas,
                               lambda sid, others: self._fits(sid, others, cap))
            if len(chosen) < self.replicas:
                raise Meta0PlacementError(f"no service can hold replica {len(chosen) + 1} "
                                          f"of base {base} next to {chosen}")
            self.assign_services(base, chosen)
            pool.put_back(chosen)
            if progress and done % _PROGRESS_EVERY == 0:
                progress(done, total)
        if progress:
            progress(total, total)
        self.rebalance()

    def _deviations(self) -> dict[str, float]:
        targets = self.targets()
        devs = {sid: len(bases) - targets.get(sid, 0.0)
                for sid, bases in self._bases_of.items() if bases}
        for sid in targets:
            devs.setdefault(sid, -targets[sid])
        return devs

    def _move_one(self, devs: dict[str, float], cap: int, moved: Mapping[str, None],
                  domains: Mapping[str, tuple[str, ...]]) -> str | None:
        """Move one base from a service above its share to one below, if any move
        lowers the imbalance, preferring a base not ``moved`` yet (so that one
        rebalance rarely moves two replicas of a base); the base moved, or None.

        Services below their share are grouped by domain: for a base, only the domains
        its other replicas do not use are looked at, so a hopeless pair costs little.
        """
        targets = self.targets()
        by_domain: dict[tuple[str, ...], list[str]] = {}
        for sid in sorted((s for s in devs if s in targets), key=devs.__getitem__):
            by_domain.setdefault(domains[sid], []).append(sid)
        floors = {dom: devs[members[0]] for dom, members in by_domain.items()}
        lowest = min(floors.values(), default=math.inf)
        for over in sorted(devs, key=lambda s: -devs[s]):
            limit = devs[over] - 1 - 1e-9  # a move helps if the receiver is below this
            if lowest >= limit:
                break
            held = self._bases_of.get(over, {})
            for base in itertools.chain((b for b in held if b not in moved),
                                        (b for b in held if b in moved)):
                others = [s for s in self.raw_services_by_base[base] if s != over]
                banned = {domains[s] for s in others}
                for dom, floor in floors.items():
                    if floor >= limit or dom in banned:
                        continue
                    for under in by_domain[dom]:
                        if devs[under] >= limit:
                            break
                        if self._fits(under, others, cap):
                            self._replace(base, over, under)
                            devs[over] -= 1
                            devs[under] += 1
                            return base
        return None

    def _move_two(self, devs: dict[str, float], cap: int) -> list[str]:
        """When no single move helps and a service is more than one base off its share:
        move a base from the most loaded service to a third one and another base from
        that one to a service below its share (the third keeps its count). The bases
        moved, or [] if no such pair of moves exists."""
        targets = self.targets()
        over = max(devs, key=lambda s: devs[s])
        lowest = min((devs[s] for s in targets), default=0.0)
        if devs[over] <= 1 + 1e-9 and lowest >= -1 - 1e-9:
            return []  # everyone is within one base of their share: not worth a search
        limit = devs[over] - 1 - 1e-9
        for under in sorted((s for s in targets if devs[s] < limit), key=devs.__getitem__):
            for middle in targets:
                if middle in (over, under):
                    continue
                second = next((b for b in self._bases_of.get(middle, {})
                               if self._fits(under, [s for s in self.raw_services_by_base[b]
                                                      if s != middle], cap)), None)
                if second is None:
                    continue
                first = next((b for b in self._bases_of.get(over, {})
                              if b != second and self._fits(
                                  middle, [s for s in self.raw_services_by_base[b]
                                           if s != over], cap)), None)
                if first is None:
                    continue
                self._replace(first, over, middle)
                self._replace(second, middle, under)
                devs[over] -= 1
                devs[under] += 1
                return [first, second]
        return []

    def rebalance(self, max_loops: int = 65536,
                  progress: Progress | None = None) -> list[str]:
        """Move bases from the services above their fair share to those below, one replica
        at a time (or two, through a third service, when no single move is allowed),
        until every service is within one base of its share, no such move helps any
        more, or ``max_loops`` moves were made. Returns the bases moved (each
        once), for :meth:`apply`.

        Each move lowers the sum of squared deviations from the shares, so the loop ends.
        """
        devs = self._deviations()
        cap = self._slice_cap(self._eligible())
        moved: dict[str, None] = {}
        domains = {sid: self._domain(sid) for sid in devs}  # every holder and receiver
        for loop in range(max_loops):
            base = self._move_one(devs, cap, moved, domains)
            bases = [base] if base else self._move_two(devs, cap)
            if not bases:
                break
            moved.update(dict.fromkeys(bases))
            if progress and (loop + 1) % _PROGRESS_EVERY == 0:
                progress(loop + 1, max_loops)
        return list(moved)

    def decommission(self, svc: str, bases_to_remove: Iterable[str] | None = None,
                     strategy: Strategy | None = None,
                     progress: Progress | None = None) -> list[str]:
        """Move ``bases_to_remove`` (default: every base of ``svc``) from ``svc`` to other
        services chosen by ``strategy`` (default :meth:`find_services_less_bases`); the
        other replicas of those bases stay where they are. Without ``bases_to_remove`` the
        service also gets no base at later rebalances of this mapping object. Returns the
        bases moved.
        """
        bases = list(self._bases_of.get(svc, ())) if bases_to_remove is None \
            else [self._check_base(b) for b in bases_to_remove]
        pick = strategy or self.find_services_less_bases
        was_excluded = svc in self.decommissioned
        self.decommissioned.add(svc)
        self._targets = None
        moved = []
        try:
            for done, base in enumerate(bases, 1):
                slots = self.raw_services_by_base.get(base, [])
                if svc not in slots:
                    continue
                others = [s for s in slots if s != svc]
                new = [s for s in pick(known=others) if s not in slots]
                if not new:
                    raise Meta0PlacementError(f"no service can take base {base} from {svc}")
                self._replace(base, svc, new[0])
                moved.append(base)
                if progress and done % _PROGRESS_EVERY == 0:
                    progress(done, len(bases))
        finally:
            if bases_to_remove is not None and not was_excluded:
                self.decommissioned.discard(svc)
                self._targets = None
        return moved

    def problems(self) -> list[str]:
        """Every broken rule: missing bases, wrong replica counts, unknown services,
        replicas closer than ``min_dist``."""
        found = []
        for base in generate_prefixes(self.digits):
            slots = self.raw_services_by_base.get(base)
            if not slots:
                found.append(f"base {base} has no service")
                continue
            if len(slots) != self.replicas or len(set(slots)) != len(slots):
                found.append(f"base {base} has {len(set(slots))} distinct services, "
                             f"expected {self.replicas}")
            found.extend(f"base {base}: service {sid} is unknown"
                         for sid in slots if sid not in self.services)
            for i, first in enumerate(slots):
                for second in slots[i + 1:]:
                    dist = dist_between(self.parsed_loc(first), self.parsed_loc(second))
                    if dist < self.min_dist:
                        found.append(f"base {base}: {first} and {second} are {dist} "
                                     f"levels apart, min_dist is {self.min_dist}")
        return found

    def check_replicas(self) -> bool:
        """True if every base has ``replicas`` distinct known services ``min_dist`` apart;
        each problem is logged."""
        found = self.problems()
        for problem in found:
            self.logger.warning("meta0: %s", problem)
        return not found

    # --- serialization --------------------------------------------------------------

    def to_dict(self, bases: Iterable[str] | None = None) -> dict[str, list[str]]:
        """The mapping (or ``bases`` of it): every prefix of those bases -> service ids."""
        wanted = self.raw_services_by_base if bases is None else \
            {b: self.raw_services_by_base[self._check_base(b)] for b in bases}
        out: dict[str, list[str]] = {}
        for base, slots in wanted.items():
            for pfx in self.prefix_siblings(base):
                out[pfx] = list(slots)
        return out

    def to_json(self, bases: Iterable[str] | None = None) -> str:
        """:meth:`to_dict` as the JSON text ``Meta0Client.force`` takes."""
        return json.dumps(self.to_dict(bases), sort_keys=True, separators=(",", ":"))

    def load_json(self, json_mapping: str | bytes, **kwargs: Any) -> None:
        """Load the mapping from the JSON text :meth:`to_json` writes."""
        try:
            data = json.loads(json_mapping)
        except ValueError as err:
            raise Meta0Error(f"the mapping is not JSON: {err}") from None
        self.load_meta0(data, **kwargs)

    def load_meta0(self, json_mapping: Mapping[str, Sequence[str]] | None = None,
                   **_kwargs: Any) -> None:
        """Load the mapping from a dict (prefix -> service ids), by default the one the
        meta0 client keeps. Prefixes of one base must agree (:class:`Meta0Error`)."""
        if json_mapping is None:
            if self.meta0 is None:
                raise Meta0Error("no meta0 client to load the mapping from")
            json_mapping = self.meta0.list()
        if not isinstance(json_mapping, Mapping):
            raise Meta0Error("the mapping must be a JSON object: prefix -> service ids")
        self.raw_services_by_base = {}
        self._bases_of = {}
        for pfx, slots in json_mapping.items():
            if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
                raise Meta0Error(f"prefix {pfx!r}: expected a list of service ids")
            base = self.prefix_to_base(pfx)
            known = self.raw_services_by_base.get(base)
            if known is None:
                self.assign_services(base, slots)
            elif known != slots:
                raise Meta0Error(f"prefixes of base {base} disagree: {known} and {slots} "
                                 f"(is digits {self.digits} right?)")

    def apply(self, moved: Iterable[str] | None = None, **_kwargs: Any) -> None:
        """Save the mapping (only the ``moved`` bases, if given) through the meta0 client."""
        if self.meta0 is None:
            raise Meta0Error("no meta0 client to save the mapping to")
        self.meta0.force(self.to_dict(moved), replace=moved is None)

