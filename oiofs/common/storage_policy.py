"""Storage policies: how many copies (or which erasure code) protect a container's objects.

Declared in ``oiofs.conf`` as ``[storage-policy:<index>]`` sections::

    [storage-policy:0]
    name = gold
    aliases = yellow, orange
    default = yes
    policy_type = replication

    [storage-policy:1]
    name = ec42
    policy_type = erasure_coding
    ec_type = isa_l_rs_cauchy
    ec_num_data_fragments = 4
    ec_num_parity_fragments = 2
    ec_object_segment_size = 1048576

Policy 0 always exists (a cluster with no policy sections has one replicated policy named
``Policy-0``). Each policy has its own object ring, ``object.ring.gz`` for index 0 and
``object-<index>.ring.gz`` otherwise, and its own data directory on disk.

A policy type is one class: :class:`ReplicationPolicy` (every node stores the object) and
:class:`ECPolicy` (node *i* stores fragment archive *i*, see ``docs/erasure-coding.md``).
Both answer what the proxy and the object server ask of a policy: the quorum of a write,
the replica count its ring must have, what ``/info`` shows. A bad section is refused with
a :class:`ConfigError` naming the policy and the option.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from oiofs.common.config import config_true_value
from oiofs.common.exceptions import ConfigError

REPLICATION = "replication"
ERASURE_CODING = "erasure_coding"
VALID_TYPES = (REPLICATION, ERASURE_CODING)
#: erasure codes tried in this order when a policy names none (the first pyeclib has)
PREFERRED_EC_TYPES = ("isa_l_rs_cauchy", "isa_l_rs_vand", "liberasurecode_rs_vand")
DEFAULT_SEGMENT_SIZE = 1024 * 1024
#: pyeclib's checksum of every fragment, checked before a fragment is decoded
EC_CHECKSUM = "inline_crc32"
#: options a policy section may hold, by type (anything else is a typo: refused)
COMMON_OPTIONS = frozenset({"name", "aliases", "default", "deprecated", "policy_type"})
EC_OPTIONS = frozenset({"ec_type", "ec_num_data_fragments", "ec_num_parity_fragments",
                        "ec_object_segment_size", "ec_duplication_factor"})


def _positive_int(policy: str, options: Mapping[str, str], name: str,
                  default: int | None = None) -> int:
    raw = options.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ConfigError(f"{policy}: option {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{policy}: option {name} = {raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{policy}: option {name} must be at least 1, not {value}")
    return value


def available_ec_types() -> list[str]:
    """The erasure codes the installed pyeclib/liberasurecode can really build."""
    try:
        from pyeclib.ec_iface import VALID_EC_TYPES
    except ImportError:  # pragma: no cover - pyeclib is a dependency
        return []
    return list(VALID_EC_TYPES)


@dataclass
class StoragePolicy:
    """One storage policy: index, name, aliases, flags and the options of its section.

    The base of the policy types; use :class:`ReplicationPolicy` or :class:`ECPolicy`.
    """

    idx: int
    name: str
    is_default: bool = False
    is_deprecated: bool = False
    options: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    policy_type: ClassVar[str] = REPLICATION

    @property
    def ring_name(self) -> str:
        """Name of the object ring of this policy (file ``<ring_name>.ring.gz``)."""
        return "object" if self.idx == 0 else f"object-{self.idx}"

    def get_diskfile_dir(self, base: str = "objects") -> str:
        """The data directory of this policy on each device (``objects``, ``objects-1``...)."""
        return base if self.idx == 0 else f"{base}-{self.idx}"

    @property
    def names(self) -> list[str]:
        """The name first, then the aliases."""
        return [self.name] + self.aliases

    def quorum(self, nodes: int) -> int:
        """How many of the ``nodes`` slots of a write must succeed."""
        return nodes // 2 + 1

    def check_ring_replicas(self, replicas: float) -> None:
        """:class:`ConfigError` if a ring with ``replicas`` replicas cannot serve the
        policy (checked when the ring is loaded)."""

    def info(self) -> dict[str, Any]:
        """What ``/info`` says of the policy."""
        out: dict[str, Any] = {"name": self.name, "policy_type": self.policy_type}
        if self.aliases:
            out["aliases"] = ", ".join(self.names)
        if self.is_default:
            out["default"] = True
        return out


@dataclass
class ReplicationPolicy(StoragePolicy):
    """Every node of the ring stores the whole object; a majority makes a write."""

    policy_type: ClassVar[str] = REPLICATION


@dataclass
class ECPolicy(StoragePolicy):
    """Erasure coding: ``k`` data + ``m`` parity fragments per segment, node *i* keeps
    fragment archive *i* (``i % (k + m)`` with ``ec_duplication_factor``), any ``k``
    fragments of a segment rebuild it; a write needs ``k + 1`` archives per copy."""

    policy_type: ClassVar[str] = ERASURE_CODING
    ec_type: str = PREFERRED_EC_TYPES[0]
    ec_ndata: int = 4
    ec_nparity: int = 2
    ec_segment_size: int = DEFAULT_SEGMENT_SIZE
    ec_duplication_factor: int = 1
    _driver: Any = field(default=None, repr=False, compare=False)
    _fragment_size: int = field(default=0, repr=False, compare=False)

    @classmethod
    def from_options(cls, idx: int, name: str, options: Mapping[str, str],
                     **flags: Any) -> ECPolicy:
        """The policy of a section's ``options``, checked (``ConfigError`` naming the
        option); pyeclib must be able to build its code."""
        where = f"policy {idx} ({name})"
        available = available_ec_types()
        ec_type = options.get("ec_type") or next(
            (t for t in PREFERRED_EC_TYPES if t in available), "")
        if ec_type not in available:
            raise ConfigError(f"{where}: option ec_type = {ec_type!r} is not available in "
                              f"the installed pyeclib (available: {', '.join(available)})")
        policy = cls(idx, name, ec_type=ec_type,
                     ec_ndata=_positive_int(where, options, "ec_num_data_fragments"),
                     ec_nparity=_positive_int(where, options, "ec_num_parity_fragments"),
                     ec_segment_size=_positive_int(where, options, "ec_object_segment_size",
                                                   DEFAULT_SEGMENT_SIZE),
                     ec_duplication_factor=_positive_int(where, options,
                                                         "ec_duplication_factor", 1),
                     options=dict(options), **flags)
        try:
            policy.driver  # noqa: B018 - build it now: a code pyeclib refuses fails at load
        except Exception as err:  # pyeclib raises its own ECDriverError family
            raise ConfigError(f"{where}: pyeclib cannot build ec_type {ec_type} with "
                              f"ec_num_data_fragments={policy.ec_ndata} and "
                              f"ec_num_parity_fragments={policy.ec_nparity}: {err}") from None
        return policy

    @property
    def driver(self) -> Any:
        """The pyeclib ``ECDriver`` of the policy (built once, fragments checksummed)."""
        if self._driver is None:
            from pyeclib.ec_iface import ECDriver
            self._driver = ECDriver(k=self.ec_ndata, m=self.ec_nparity,
                                    ec_type=self.ec_type, chksum_type=EC_CHECKSUM)
        return self._driver

    @property
    def ec_n_unique_fragments(self) -> int:
        """``k + m``: the distinct fragment indexes."""
        return self.ec_ndata + self.ec_nparity

    @property
    def node_count(self) -> int:
        """How many nodes store an object: ``(k + m) * ec_duplication_factor``."""
        return self.ec_n_unique_fragments * self.ec_duplication_factor

    @property
    def fragment_size(self) -> int:
        """Bytes of the fragment of one full segment (pyeclib's header included)."""
        if not self._fragment_size:
            info = self.driver.get_segment_info(self.ec_segment_size, self.ec_segment_size)
            self._fragment_size = int(info["fragment_size"])
        return self._fragment_size

    @property
    def scheme(self) -> str:
        """The code as written in each archive's ``X-Object-Sysmeta-Ec-Scheme``:
        ``<ec_type> <k>+<m>``."""
        return f"{self.ec_type} {self.ec_ndata}+{self.ec_nparity}"

    def frag_index(self, slot: int) -> int:
        """The fragment index kept by the node of write slot ``slot``."""
        return slot % self.ec_n_unique_fragments

    def quorum(self, nodes: int) -> int:
        """``k + 1`` archives per copy (``k`` alone could not survive one more loss)."""
        return (self.ec_ndata + min(1, self.ec_nparity)) * self.ec_duplication_factor

    def check_ring_replicas(self, replicas: float) -> None:
        """The ring must place exactly ``(k + m) * ec_duplication_factor`` nodes."""
        if replicas != self.node_count:
            raise ConfigError(
                f"policy {self.idx} ({self.name}): its ring {self.ring_name}.ring.gz has "
                f"{replicas:g} replicas but ec_num_data_fragments + ec_num_parity_fragments"
                f" (x ec_duplication_factor) is {self.node_count}")

    def info(self) -> dict[str, Any]:
        """``/info``: the base fields plus the code's parameters."""
        out = super().info()
        out.update({"ec_type": self.ec_type, "ec_num_data_fragments": self.ec_ndata,
                    "ec_num_parity_fragments": self.ec_nparity,
                    "ec_object_segment_size": self.ec_segment_size,
                    "ec_duplication_factor": self.ec_duplication_factor})
        return out


def policy_from_section(idx: int, options: Mapping[str, str]) -> StoragePolicy:
    """The policy of one ``[storage-policy:<idx>]`` section, checked."""
    name = (options.get("name") or f"Policy-{idx}").strip()
    where = f"policy {idx} ({name})"
    ptype = options.get("policy_type", REPLICATION)
    if ptype not in VALID_TYPES:
        raise ConfigError(f"{where}: option policy_type = {ptype!r} is not one of "
                          f"{', '.join(VALID_TYPES)}")
    allowed = COMMON_OPTIONS | (EC_OPTIONS if ptype == ERASURE_CODING else frozenset())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown option {unknown[0]} for policy_type {ptype}")
    aliases = [a.strip() for a in options.get("aliases", "").split(",") if a.strip()]
    flags: dict[str, Any] = {
        "is_default": config_true_value(options.get("default", "no")),
        "is_deprecated": config_true_value(options.get("deprecated", "no")),
        "aliases": [a for a in aliases if a.lower() != name.lower()]}
    if flags["is_default"] and flags["is_deprecated"]:
        raise ConfigError(f"{where}: option deprecated: the default policy cannot be "
                          "deprecated")
    if ptype == ERASURE_CODING:
        return ECPolicy.from_options(idx, name, options, **flags)
    return ReplicationPolicy(idx, name, options=dict(options), **flags)


class StoragePolicyCollection:
    """The policies of the cluster, by index and by name or alias (case-insensitive)."""

    def __init__(self) -> None:
        self.by_index: dict[int, StoragePolicy] = {}
        self.default: StoragePolicy
        self._set([ReplicationPolicy(0, "Policy-0", is_default=True)])

    def _set(self, policies: list[StoragePolicy]) -> None:
        by_name: dict[str, StoragePolicy] = {}
        for policy in policies:
            for name in policy.names:
                if name.lower() in by_name:
                    raise ConfigError(f"duplicate policy name {name}")
                by_name[name.lower()] = policy
        self.by_index = {p.idx: p for p in policies}
        defaults = [p for p in policies if p.is_default]
        if len(defaults) > 1:
            raise ConfigError("more than one default storage policy")
        if not defaults:
            candidates = [p for p in policies if not p.is_deprecated]
            if len(candidates) == 1 or 0 in self.by_index:
                chosen = self.by_index.get(0) or candidates[0]
                if chosen.is_deprecated:
                    raise ConfigError("no default storage policy (policy 0 is deprecated)")
                chosen.is_default = True
                defaults = [chosen]
            else:
                raise ConfigError("no default storage policy")
        self.default = defaults[0]

    def load(self, sections: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the policies with those declared in ``sections`` (parsed oiofs.conf)."""
        policies = []
        for section, options in sections.items():
            if not section.startswith("storage-policy:"):
                continue
            try:
                idx = int(section.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"invalid policy section [{section}]") from None
            if idx < 0:
                raise ConfigError(f"invalid policy index {idx}")
            policies.append(policy_from_section(idx, options))
        if not policies:
            policies = [ReplicationPolicy(0, "Policy-0", is_default=True)]
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
        """The policy with that name or alias, case-insensitive, or ``None``."""
        wanted = name.lower()
        for policy in self.by_index.values():
            if any(n.lower() == wanted for n in policy.names):
                return policy
        return None

    def __iter__(self) -> Iterator[StoragePolicy]:
        return iter(sorted(self.by_index.values(), key=lambda p: p.idx))

    def __len__(self) -> int:
        return len(self.by_index)


POLICIES = StoragePolicyCollection()
