"""The object reconstructor: keeps every erasure-coded partition's fragment archives whole.

The replicator's daemon for erasure-coded policies (``docs/erasure-coding.md``). One pass
walks the partitions of every local device for every erasure-coded storage policy, as the
replicator does for replicated ones (:class:`~oiofs.obj.replicator.ObjectReplicator`:
local devices, the green pool, the heartbeat and lockup detector, ``tmp`` cleanup), and
runs one job per partition (:mod:`oiofs.obj.reconstruction_sync`):

* on a **primary** (its slot in ``ring.get_part_nodes(part)`` gives its fragment index),
  compare suffix hashes with the previous and next slots; for what a neighbour lacks,
  rebuild its archive from ``k`` others and push it (tombstones and ``.meta`` files are
  pushed as they are);
* on a **handoff**, send each archive to the primary of its index, and remove the
  partition once every primary has what it needs.

Options (section ``[object-reconstructor]`` of ``object-server.conf``, ``[DEFAULT]``
merged): the replicator's, with the same defaults: ``devices``, ``mount_check``,
``bind_ip``, ``bind_port``, ``oiofs_dir``, ``interval`` (30), ``concurrency`` (2),
``conn_timeout`` (0.5), ``node_timeout`` (10: also each read of an archive being rebuilt
from), ``http_timeout`` (60), ``reclaim_age`` (604800), ``full_rehash_interval`` (86400),
``handoffs_first`` (false), ``lockup_timeout`` (1800), ``stats_interval`` (300),
``network_chunk_size`` (65536).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

from oiofs.common.storage_policy import ERASURE_CODING, StoragePolicy
from oiofs.obj.ec_rebuild import ArchiveRebuilder
from oiofs.obj.reconstruction_sync import ReconstructionSync, neighbours
from oiofs.obj.replication_client import ReplicationClient
from oiofs.obj.replication_stats import ObjectReconstructionStats, ObjectReplicationStats
from oiofs.obj.replicator import ObjectReplicator


class ObjectReconstructor(ObjectReplicator):
    """The ``object-reconstructor`` daemon; ``run_once()`` is one pass over local devices
    (``devices=[...]``, ``partitions=[...]`` limit it); :attr:`last_stats` after it."""

    name = "object-reconstructor"
    policy_type = ERASURE_CODING
    what = "object reconstruction"
    stats_class = ObjectReconstructionStats

    def sync_nodes(self, nodes: list[dict], dev: dict, primary: bool) -> list[dict]:
        """A primary syncs with its neighbour slots; a handoff with every primary."""
        return neighbours(nodes, dev["id"]) if primary else list(nodes)

    def make_sync(self, client: ReplicationClient, stats: ObjectReplicationStats
                  ) -> ReconstructionSync:
        """The per-partition worker of one pass, with its archive rebuilder."""
        assert isinstance(stats, ObjectReconstructionStats)  # stats_class
        rebuilder = ArchiveRebuilder(self.conn_timeout, self.node_timeout, self.logger,
                                     f"{self.name} {os.getpid()}", client.on_progress)
        return ReconstructionSync(client, rebuilder, stats, self.logger, self.reclaim_age,
                                  self.full_rehash_interval, self.repeats, self._handoffs)

    def _handoffs(self, policy: StoragePolicy, partition: int) -> Iterator[dict]:
        ring = self.ring(policy)
        if ring is None:
            return iter(())
        return itertools.islice(ring.get_more_nodes(partition), int(ring.replica_count))

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's ``object_reconstruction_time`` (minutes) and ``_last``, and the pass's
        counters under ``object_reconstruction_stats``."""
        stats = self.last_stats
        if stats is None:
            return {}
        return {"object_reconstruction_stats": stats.as_dict(),
                "object_reconstruction_time": (ended - began) / 60,
                "object_reconstruction_last": ended}
