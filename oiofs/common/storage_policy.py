"""Storage policies: how many copies (or which erasure code) protect a container's objects.

Declared in ``oiofs.conf`` as ``[storage-policy:<index>]`` sections::

    [storage-policy:0]
    name = gold
    default = yes
    policy_type = replication

Policy 0 always exists (a cluster with no policy sections has one replicated policy named
``Policy-0``). Each policy has its own object ring, ``object.ring.gz`` for index 0 and
``object-<index>.ring.gz`` otherwise, and its own data directory on disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from oiofs.common.config import config_true_value
from oiofs.common.exceptions import ConfigError

REPLICATION = "replication"
ERASURE_CODING = "erasure_coding"
VALID_TYPES = (REPLICATION, ERASURE_CODING)
#: the policy types this version can store (erasure coding is declared, not built yet)
BUILT_TYPES = (REPLICATION,)


@dataclass
class StoragePolicy:
    """One storage policy: index, name, type and the options of its section."""

    idx: int
    name: str
    policy_type: str = REPLICATION
    is_default: bool = False
    is_deprecated: bool = False
    options: dict[str, str] = field(default_factory=dict)

    @property
    def ring_name(self) -> str:
        """Name of the object ring of this policy (file ``<ring_name>.ring.gz``)."""
        return "object" if self.idx == 0 else f"object-{self.idx}"

    def get_diskfile_dir(self, base: str = "objects") -> str:
        """The data directory of this policy on each device (``objects``, ``objects-1``...)."""
        return base if self.idx == 0 else f"{base}-{self.idx}"


class StoragePolicyCollection:
    """The policies of the cluster, by index and by name (case-insensitive)."""

    def __init__(self) -> None:
        self.by_index: dict[int, StoragePolicy] = {}
        self.default: StoragePolicy
        self._set([StoragePolicy(0, "Policy-0", is_default=True)])

    def _set(self, policies: list[StoragePolicy]) -> None:
        self.by_index = {p.idx: p for p in policies}
        defaults = [p for p in policies if p.is_default]
        if len(defaults) > 1:
            raise ConfigError("more than one default storage policy")
        if not defaults:
            candidates = [p for p in policies if not p.is_deprecated]
            if len(candidates) == 1 or 0 in self.by_index:
                chosen = self.by_index.get(0) or candidates[0]
                chosen.is_default = True
                defaults = [chosen]
            else:
                raise ConfigError("no default storage policy")
        self.default = defaults[0]

    def load(self, sections: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the policies with those declared in ``sections`` (parsed oiofs.conf)."""
        policies = []
        names = set()
        for section, options in sections.items():
            if not section.startswith("storage-policy:"):
                continue
            try:
                idx = int(section.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"invalid policy section [{section}]") from None
            if idx < 0:
                raise ConfigError(f"invalid policy index {idx}")
            name = options.get("name") or f"Policy-{idx}"
            if name.lower() in names:
                raise ConfigError(f"duplicate policy name {name}")
            names.add(name.lower())
            ptype = options.get("policy_type", REPLICATION)
            if ptype not in VALID_TYPES:
                raise ConfigError(f"policy {idx}: unknown policy_type {ptype}")
            if ptype not in BUILT_TYPES:
                # Refused, never stored as something else: without an erasure-coded
                # writer and reconstructor its objects would silently be replicas.
                raise ConfigError(f"policy {idx}: policy_type {ptype} is not supported yet")
            policies.append(StoragePolicy(
                idx, name, ptype,
                is_default=config_true_value(options.get("default", "no")),
                is_deprecated=config_true_value(options.get("deprecated", "no")),
                options=dict(options)))
        if not policies:
            policies = [StoragePolicy(0, "Policy-0", is_default=True)]
        self._set(policies)

    def get_by_index(self, index: str | int | None) -> StoragePolicy | None:
        """The policy with that index (int or numeric string), or ``None``."""
        if index is None or index == "":
            return self.default
        try:
            return self.by_index.get(int(index))
        except (TypeError, ValueError):
            return None

    def get_by_name(self, name: str) -> StoragePolicy | None:
        """The policy with that name, case-insensitive, or ``None``."""
        for policy in self.by_index.values():
            if policy.name.lower() == name.lower():
                return policy
        return None

    def __iter__(self) -> Iterator[StoragePolicy]:
        return iter(sorted(self.by_index.values(), key=lambda p: p.idx))

    def __len__(self) -> int:
        return len(self.by_index)


POLICIES = StoragePolicyCollection()
