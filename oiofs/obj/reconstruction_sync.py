"""Syncing one erasure-coded partition: a primary with its neighbours, a handoff back home.

The partition walk, the suffix-hash comparison, the inventories and the handoff removal
are the replicator's (:class:`~oiofs.obj.replication_sync.PartitionSync`); what differs is
what one object needs on a peer (:meth:`ReconstructionSync._push`):

* a **primary** (slot *s*, fragment index ``s % (k + m)``) syncs with the previous and
  next slots. For an object whose newest write it holds durable and that the neighbour
  lacks (no archive of the neighbour's index at that timestamp, or only older files), it
  **rebuilds** the neighbour's archive from ``k`` others (:mod:`oiofs.obj.ec_rebuild`)
  and pushes it, or, when the neighbour holds that archive but its commit never came,
  sends the commit; a tombstone or a ``.meta`` the neighbour lacks is pushed as is.
* a **handoff** partition is **reverted**: each durable archive it holds goes, as is, to
  the primary of that archive's index (tombstones and ``.meta`` files to every primary);
  once every primary has what it needs, the delivered files and the emptied directories
  are removed (the replicator's rule: nothing is removed that a primary did not confirm).

Suffix hashes leave fragment indexes out (:func:`oiofs.obj.hashes.listing_hash`), so
neighbours in sync compare equal; which index a node holds comes from its inventory
(``frags``).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator

from oiofs.common.backend_protocol import EC_CONTENT_LENGTH, EC_ETAG
from oiofs.common.exceptions import DiskFileCorrupt
from oiofs.common.logger import node_key
from oiofs.common.storage_policy import ECPolicy, StoragePolicy
from oiofs.obj import filenames
from oiofs.obj.ec_rebuild import ArchiveRebuilder, RebuildError
from oiofs.obj.metadata import read_metadata_path
from oiofs.obj.replication_client import LocalFileBad
from oiofs.obj.replication_stats import ObjectReconstructionStats
from oiofs.obj.replication_sync import Job, PartitionSync, files_to_push


def neighbours(nodes: list[dict], dev_id: int) -> list[dict]:
    """The previous and next slots of device ``dev_id`` among a partition's primaries
    (each once, never the device itself; ``[]`` if it is not a primary).

    >>> [n["id"] for n in neighbours([{"id": i} for i in (7, 8, 9, 10)], 7)]
    [10, 8]
    """
    slots = [slot for slot, node in enumerate(nodes) if node["id"] == dev_id]
    out: list[dict] = []
    for slot in slots:
        for other in (nodes[(slot - 1) % len(nodes)], nodes[(slot + 1) % len(nodes)]):
            if other["id"] != dev_id and all(other["id"] != n["id"] for n in out):
                out.append(other)
    return out


class ReconstructionSync(PartitionSync):
    """Runs the reconstructor's :class:`Job` s (module docstring).

    ``handoffs(policy, partition)`` iterates the partition's handoff nodes (where
    archives to rebuild from may also be, after a failure).
    """

    what = "object reconstruction"
    stats: ObjectReconstructionStats

    def __init__(self, client, rebuilder: ArchiveRebuilder,
                 stats: ObjectReconstructionStats, logger,
                 reclaim_age: float, full_rehash_interval: float | None, repeats,
                 handoffs: Callable[[StoragePolicy, int], Iterator[dict]]):
        super().__init__(client, stats, logger, reclaim_age, full_rehash_interval, repeats)
        self.rebuilder = rebuilder
        self.handoffs = handoffs

    def close(self) -> None:
        """Count the rebuilder's requests into the pass, close its connections."""
        self.stats.requests += self.rebuilder.requests
        self.stats.bad_fragments += self.rebuilder.bad_fragments
        self.rebuilder.requests = self.rebuilder.bad_fragments = 0
        self.rebuilder.close()

    @staticmethod
    def _node_index(job: Job, node: dict) -> int | None:
        """The fragment index ``node`` keeps in this partition (``None``: not a primary)."""
        policy = job.policy
        for slot, primary in enumerate(job.part_nodes):
            if primary["id"] == node["id"] and isinstance(policy, ECPolicy):
                return policy.frag_index(slot)
        return None

    def _push(self, job: Job, node: dict, listing: dict, inventory: dict) -> set[str]:
        """Give ``node`` what it lacks of ``listing``; the hashes it now has in full.

        Raises :class:`~oiofs.obj.replication_client.ReplicationError` at the first
        request to ``node`` that fails.
        """
        index = self._node_index(job, node)
        acked = set()
        for name_hash, files in listing.items():
            hash_dir = os.path.join(job.path, name_hash[-3:], name_hash)
            remote = inventory.get(name_hash) or {}
            complete = True
            if files.data and index is not None:
                complete = self._give_archive(job, node, index, hash_dir, files, remote)
            # tombstones and .meta files are not per index: pushed as the replicator does
            others = [name for name in files_to_push(files, remote) if name != files.data]
            if complete and all(self._push_file(job, node, hash_dir, name)
                                for name in others):
                acked.add(name_hash)
        return acked

    def _give_archive(self, job: Job, node: dict, index: int, hash_dir: str,
                      files: filenames.OnDiskFiles, remote: dict) -> bool:
        """Make sure ``node`` holds archive ``index`` of the write ``files`` chose: it
        has it (or something newer), or it is sent (held here) or rebuilt (a primary)."""
        stamp = files.data_or_ts_timestamp or ""
        remote_ts = remote.get("ts")
        if remote_ts is not None and (remote_ts > stamp or (remote_ts == stamp and (
                remote.get("ext") == filenames.TOMBSTONE or
                index in remote.get("frags", ())))):
            return True
        if job.primary and index in remote.get("pending", {}).get(stamp, ()) and \
                self._commit(job, node, index, hash_dir, files):
            return True
        held = filenames.durable_archives(files)
        if index in held:
            if self._push_file(job, node, hash_dir, held[index]):
                if not job.primary:
                    self.stats.archives_reverted += 1
                return True
            return False
        if not job.primary:
            return True  # a handoff only sends back what it holds
        return self._rebuild(job, node, index, hash_dir, files)

    def _local_metadata(self, hash_dir: str,
                        files: filenames.OnDiskFiles) -> dict[str, str] | None:
        """The metadata of the chosen archive here (the write's, footers included);
        ``None`` if it is gone (a newer write replaced it: next pass) or unreadable."""
        assert files.data is not None
        try:
            return read_metadata_path(os.path.join(hash_dir, files.data))[0]
        except FileNotFoundError:
            return None
        except DiskFileCorrupt as err:
            self.logger.error("%s of %s: local archive %s unreadable (%s); left to the "
                              "auditor", self.what, hash_dir, files.data, err)
            return None

    def _commit(self, job: Job, node: dict, index: int, hash_dir: str,
                files: filenames.OnDiskFiles) -> bool:
        """``node`` holds archive ``index`` of the chosen write but its commit never
        came: send it (the footers are this archive's); False if that did not do."""
        metadata = self._local_metadata(hash_dir, files)
        if metadata is None or not metadata.get(EC_ETAG):
            return False
        footers = {key: metadata[key] for key in (EC_ETAG, EC_CONTENT_LENGTH)
                   if key in metadata}
        status = self.client.commit(node, job.partition, job.policy, metadata["name"],
                                    metadata["X-Timestamp"], index, footers)
        if status != 201:
            return False  # gone meanwhile: rebuilt instead
        self.stats.archives_committed += 1
        self.logger.info("%s committed archive %d of %s on %s", self.what, index,
                         metadata.get("name"), node_key(node))
        return True

    def _rebuild(self, job: Job, node: dict, index: int, hash_dir: str,
                 files: filenames.OnDiskFiles) -> bool:
        """Rebuild archive ``index`` of the chosen write and push it to ``node``."""
        assert isinstance(job.policy, ECPolicy)
        metadata = self._local_metadata(hash_dir, files)
        if metadata is None:
            return False
        # primaries in slot order (data fragments first), this node's own included, then
        # the handoffs that may hold archives after a failure
        sources = itertools.chain(
            (n for n in job.part_nodes if n["id"] != node["id"]),
            (n for n in self.handoffs(job.policy, job.partition)
             if n["id"] != node["id"]))
        try:
            path = self.rebuilder.rebuild(job.policy, job.device_path, job.partition,
                                          metadata, index, sources)
        except RebuildError as err:
            self.stats.rebuild_failures += 1
            self.repeats.log(self.logger, logging.WARNING, f"rebuild {job.path}",
                             "%s: cannot rebuild archive %d of %s: %s", self.what, index,
                             hash_dir, err)
            return False
        try:
            if self.client.push(node, job.partition, job.policy, path,
                                filenames.DATA) == 201:
                self.stats.files_pushed += 1
                self.stats.archives_rebuilt += 1
                self.logger.info("%s rebuilt archive %d of %s for %s", self.what, index,
                                 metadata.get("name"), node_key(node))
            return True
        except LocalFileBad as err:  # never expected: the file was written just now
            self.logger.error("%s: rebuilt archive %d of %s is bad: %s", self.what, index,
                              hash_dir, err)
            return False
        finally:
            os.unlink(path)
