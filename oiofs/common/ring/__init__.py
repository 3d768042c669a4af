"""The ring: which devices hold each account, container and object.

:class:`RingBuilder` is the operator's tool (devices, weights, rebalance), :class:`RingData`
the file servers load, :class:`Ring` the reader they call on every request
(``get_nodes``, ``get_more_nodes``). See ``docs/ring.md``.
"""

from oiofs.common.ring.builder import RingBuilder
from oiofs.common.ring.ring import Ring
from oiofs.common.ring.ringdata import RingData

__all__ = ["Ring", "RingBuilder", "RingData"]
