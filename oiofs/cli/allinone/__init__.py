"""The all-in-one cluster: rings, configs and processes of a whole cluster on this machine.

``oiofs-allinone start`` is the command a new user runs first (see the README). The
package is split by concept: :mod:`.layout` (where things live and which ports they use),
:mod:`.configs` (the files it writes), :mod:`.processes` (starting, stopping and watching
what it started) and :mod:`.cluster` (the :class:`AllInOne` that ties them together, also
used by the functional and probe tests).
"""

from oiofs.cli.allinone.cluster import AllInOne
from oiofs.cli.allinone.layout import Layout

__all__ = ["AllInOne", "Layout"]
