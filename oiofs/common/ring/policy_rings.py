"""The object rings of the storage policies, each loaded the first time it is needed."""

from __future__ import annotations

from oiofs.common.ring.ring import Ring
from oiofs.common.storage_policy import POLICIES


class ObjectRings:
    """``policy index -> object ring`` for the daemons that reach objects of any policy.

    ``preloaded`` rings (tests) are used as they are.
    """

    def __init__(self, oiofs_dir: str, preloaded: dict[int, Ring] | None = None):
        self.oiofs_dir = oiofs_dir
        self._rings: dict[int, Ring] = dict(preloaded or {})

    def get(self, policy_index: int) -> Ring | None:
        """The object ring of a policy (loaded on first use); ``None`` if the policy is
        unknown."""
        ring = self._rings.get(policy_index)
        if ring is None:
            policy = POLICIES.get_by_index(policy_index)
            if policy is None:
                return None
            ring = self._rings[policy_index] = Ring(self.oiofs_dir,
                                                    ring_name=policy.ring_name)
        return ring
