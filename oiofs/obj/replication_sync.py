"""Syncing one partition: a primary with its peers, or a handoff back to its primaries.

For each peer the replicator compares suffix hashes (one REPLICATE); only for suffixes
that differ does it look at files: it asks the peer's inventory of those suffixes, pushes
every file the peer lacks or has older (:func:`files_to_push`), then asks the peer to
rehash them. Pushes only go one way: a peer with newer files pushes them back at its own
pass.

A primary whose suffix hashes have not changed since a pass in which every peer answered
with the same hashes is left alone (no REPLICATE) until that agreement is older than
``sync_check_interval``: pushes only carry what *this* node has, and it has nothing new,
so only a peer that lost files could need it, and that is caught at the next check. This
makes a pass over a quiet node cost two small file reads per partition.

A handoff partition is pushed to every primary. Once each primary has acknowledged each
object (same suffix hash, a push stored, or a ``409`` saying it has that file or newer),
exactly the files that were acknowledged are unlinked, then the emptied directories and
the partition are removed. Anything written to the partition meanwhile keeps its
directory in place for the next pass; nothing is removed that a primary did not confirm,
so the replicator can be killed at any moment.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field

from oiofs.common.logger import RepeatLimiter, node_key
from oiofs.common.storage_policy import StoragePolicy
from oiofs.obj import filenames
from oiofs.obj.hashes import (
    HASHES_FILE,
    HASHES_INVALID,
    PARTITION_LOCK,
    get_hashes,
    is_suffix,
    listing_hash,
    suffix_listing,
)
from oiofs.obj.quarantine import quarantine_hash_dir
from oiofs.obj.replication_client import LocalFileBad, ReplicationClient, ReplicationError
from oiofs.obj.replication_stats import ObjectReplicationStats


@dataclass
class Job:
    """One partition of one local device, and the nodes to sync it with."""

    device: str
    device_path: str
    policy: StoragePolicy
    partition: int
    path: str
    #: a primary: the peers it syncs with (the replicator: the other primaries); a
    #: handoff: every primary
    nodes: list[dict]
    primary: bool
    #: the partition's primaries in slot order (an erasure-coded slot's fragment index)
    part_nodes: list[dict] = field(default_factory=list)


def files_to_push(files: filenames.OnDiskFiles, remote: dict | None) -> list[str]:
    """The local file names a peer needs, given its inventory entry (``None``: nothing).

    The ``.data``/``.ts`` goes when the peer has none or an older one; the ``.meta`` when
    the peer has neither a newer-or-equal ``.meta`` nor a ``.data``/``.ts`` at least as
    new (which would make it obsolete there). Data before metadata.
    """
    remote = remote or {}
    remote_ts = remote.get("ts")
    remote_meta = remote.get("meta")
    wanted = []
    local_ts = files.data_or_ts_timestamp
    if local_ts and (remote_ts is None or remote_ts < local_ts):
        wanted.append(files.data or files.tombstone)
    local_meta = files.meta_timestamp
    if local_meta and (remote_meta is None or remote_meta < local_meta) and \
            (remote_ts is None or remote_ts < local_meta):
        wanted.append(files.meta)
    return wanted  # type: ignore[return-value]


class PartitionSync:
    """Runs :class:`Job` s: hash comparison, inventory, pushes, handoff removal."""

    #: how log lines name the work
    what = "object replication"

    def __init__(self, client: ReplicationClient, stats: ObjectReplicationStats, logger,
                 reclaim_age: float, full_rehash_interval: float | None,
                 repeats: RepeatLimiter | None = None, sync_check_interval: float = 0.0,
                 agreed: dict[tuple, tuple[str, float]] | None = None):
        self.client = client
        #: primaries seen in agreement with every peer: key -> (signature, when); kept by
        #: the daemon from pass to pass
        self.agreed = {} if agreed is None else agreed
        self.sync_check_interval = sync_check_interval
        self.stats = stats
        self.logger = logger
        # a node down fails every partition pushed to it: one line per node per interval
        self.repeats = repeats or RepeatLimiter(0)
        self.reclaim_age = reclaim_age
        self.full_rehash_interval = full_rehash_interval

    def close(self) -> None:
        """The pass is over (nothing to release here)."""

    def run(self, job: Job) -> None:
        """Sync one partition; failures are counted and logged, never raised."""
        try:
            if job.primary:
                self._sync_primary(job)
            else:
                self.stats.handoff_partitions += 1
                self._revert_handoff(job)
        except Exception:  # one bad partition must not end the pass
            self.stats.failures += 1
            self.logger.exception("%s of %s failed", self.what, job.path)
        finally:
            self.stats.partitions += 1

    def _hashes(self, job: Job, recalculate=()) -> dict[str, str]:
        result = get_hashes(job.path, recalculate, self.reclaim_age, self.full_rehash_interval)
        self.stats.suffixes_hashed += result.hashed
        return result.hashes

    def _listing(self, job: Job, suffix: str) -> dict[str, filenames.OnDiskFiles]:
        return suffix_listing(os.path.join(job.path, suffix), self.reclaim_age)

    # -- primaries ---------------------------------------------------------------------------

    @staticmethod
    def _signature(job: Job, local: dict[str, str]) -> str:
        """What must not change for a partition to be left alone: its hashes and peers."""
        text = repr((sorted(local.items()), sorted(node["id"] for node in job.nodes)))
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def _sync_primary(self, job: Job) -> None:
        local = self._hashes(job)
        if not local:
            return  # nothing here to push; the peers push what they have at their pass
        key = (job.device, job.policy.idx, job.partition)
        now = time.monotonic()
        seen = self.agreed.pop(key, None)
        if seen is not None and now - seen[1] < self.sync_check_interval and \
                seen[0] == self._signature(job, local):
            self.agreed[key] = seen
            self.stats.partitions_unchanged += 1
            return
        agreeing = 0
        rehashed: set[str] = set()
        listings: dict[str, dict] = {}
        for node in job.nodes:
            try:
                remote = self.client.get_hashes(node, job.partition, job.policy)
                differ = [s for s, h in local.items() if remote.get(s) != h]
                fresh = [s for s in differ if s not in rehashed]
                if fresh:
                    # our cached hash may predate a change nobody recorded: recompute
                    # exactly these before deciding to push
                    local = self._hashes(job, fresh)
                    rehashed.update(fresh)
                    differ = [s for s in differ if s in local and remote.get(s) != local[s]]
                if not differ:
                    agreeing += 1
                    continue
                inventory = self.client.inventory(node, job.partition, job.policy, differ)
                for suffix in differ:
                    if suffix not in listings:
                        listings[suffix] = self._listing(job, suffix)
                    self._push(job, node, listings[suffix], inventory)
                self.client.get_hashes(node, job.partition, job.policy, differ)
                self.stats.suffixes_synced += len(differ)
            except ReplicationError as err:
                self.stats.failures += 1
                self.repeats.log(self.logger, logging.WARNING, node_key(node),
                                 "%s of %s to %s: %s", self.what, job.path,
                                 node.get("device"), err)
        if agreeing == len(job.nodes) and self.sync_check_interval > 0:
            self.agreed[key] = (self._signature(job, local), now)

    # -- pushes ------------------------------------------------------------------------------

    def _push(self, job: Job, node: dict, listing: dict, inventory: dict) -> set[str]:
        """Push what ``node`` lacks of ``listing``; the hashes it now has in full.

        Raises :class:`ReplicationError` at the first request that fails (the node is
        down or refusing: no use trying its other objects now).
        """
        acked = set()
        for name_hash, files in listing.items():
            hash_dir = os.path.join(job.path, name_hash[-3:], name_hash)
            if all(self._push_file(job, node, hash_dir, name)
                   for name in files_to_push(files, inventory.get(name_hash))):
                acked.add(name_hash)
        return acked

    def _push_file(self, job: Job, node: dict, hash_dir: str, name: str) -> bool:
        """Push the file ``name`` of ``hash_dir`` to ``node``; False if it is gone (a
        newer write replaced it: next pass) or bad (then the hash directory is
        quarantined so that a good copy comes back).

        Raises :class:`ReplicationError` when the node fails.
        """
        try:
            if self.client.push(node, job.partition, job.policy,
                                os.path.join(hash_dir, name)) == 201:
                self.stats.files_pushed += 1
            return True
        except FileNotFoundError:
            return False
        except LocalFileBad as err:
            where = quarantine_hash_dir(job.device_path, hash_dir, job.policy)
            self.stats.quarantined += 1
            self.logger.error("%s quarantined %s to %s: %s", self.what, hash_dir, where,
                              err)
            return False

    # -- handoffs ----------------------------------------------------------------------------

    def _revert_handoff(self, job: Job) -> None:
        self._hashes(job)  # folds invalidations in, cleans up and reclaims
        # The hashes compared are computed from these very listings, so every file that
        # is later removed is one a primary was seen to have, even if writes land here
        # meanwhile.
        listings = {}
        for suffix in sorted(os.listdir(job.path)) if os.path.isdir(job.path) else ():
            if is_suffix(suffix) and os.path.isdir(os.path.join(job.path, suffix)):
                listing = self._listing(job, suffix)
                if listing:
                    listings[suffix] = listing
        local = {suffix: listing_hash(listing) for suffix, listing in listings.items()}
        everything = {(s, h) for s, listing in listings.items() for h in listing}
        all_acked = True
        for node in job.nodes:
            try:
                acked = self._revert_to(job, node, listings, local)
            except ReplicationError as err:
                self.stats.failures += 1
                self.repeats.log(self.logger, logging.WARNING, node_key(node),
                                 "%s of handoff %s to %s: %s", self.what,
                                 job.path, node.get("device"), err)
                all_acked = False
                continue
            if acked != everything:
                all_acked = False
        if all_acked:
            self._remove_handoff(job, listings)

    def _revert_to(self, job: Job, node: dict, listings: dict, local: dict) -> set:
        if not listings:
            return set()
        remote = self.client.get_hashes(node, job.partition, job.policy)
        differ = [s for s in local if remote.get(s) != local[s]]
        acked = {(s, h) for s in local if s not in differ for h in listings[s]}
        if differ:
            inventory = self.client.inventory(node, job.partition, job.policy, differ)
            for suffix in differ:
                pushed = self._push(job, node, listings[suffix], inventory)
                acked.update((suffix, h) for h in pushed)
            self.client.get_hashes(node, job.partition, job.policy, differ)
            self.stats.suffixes_synced += len(differ)
        return acked

    def _remove_handoff(self, job: Job, listings: dict) -> None:
        """Unlink the acknowledged files, then every directory they leave empty."""
        # Unlinks are not fsynced: a file that a crash brings back is pushed (409) and
        # removed again at the next pass.
        for suffix, listing in listings.items():
            suffix_dir = os.path.join(job.path, suffix)
            for name_hash, files in listing.items():
                hash_dir = os.path.join(suffix_dir, name_hash)
                # the durable archives of other indexes were delivered too (a
                # reconstructor's handoff); a newer archive still waiting for its
                # commit was not, and stays
                delivered = {files.data, files.tombstone, files.meta,
                             *filenames.durable_archives(files).values()}
                for name in delivered:
                    if name:
                        try:
                            os.unlink(os.path.join(hash_dir, name))
                        except FileNotFoundError:
                            pass
                _rmdir(hash_dir)
            _rmdir(suffix_dir)
        if any(is_suffix(n) for n in _listdir(job.path)):
            return  # something was written meanwhile: keep the partition for next pass
        for name in (HASHES_FILE, HASHES_INVALID, PARTITION_LOCK):
            try:
                os.unlink(os.path.join(job.path, name))
            except FileNotFoundError:
                pass
        if _rmdir(job.path):
            self.stats.handoffs_removed += 1
            self.logger.info("%s removed handoff partition %s", self.what, job.path)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except OSError:  # not empty: a write landed meanwhile, or junk an operator should see
        return False
