"""The object replicator: keeps every partition's replicas the same, pushing over HTTP.

One pass walks the partitions of every local device (ring devices at this machine's
addresses on this server's ``bind_port``, :mod:`oiofs.common.local_devices`) for every
replicated storage policy, and runs one job per partition (:mod:`oiofs.obj.replication_sync`):

* on a **primary**, compare suffix hashes with each other primary (one REPLICATE each)
  and push what differs;
* on a **handoff**, push everything to every primary, and remove the partition once all
  of them acknowledged it.

When replicas agree a pass costs, per partition, two small file reads and one REPLICATE
per peer: no object file is looked at. Jobs run in a small green pool (``concurrency``);
a :class:`~oiofs.obj.replication_stats.Heartbeat` logs progress and kills workers stuck
for ``lockup_timeout``. Each pass ends with one summary line (see ``docs/replication.md``).

Options (section ``[object-replicator]`` of ``object-server.conf``, ``[DEFAULT]`` merged):
``devices``, ``mount_check``, ``bind_ip``, ``bind_port``, ``oiofs_dir``, ``interval`` (30),
``concurrency`` (2), ``conn_timeout`` (0.5), ``node_timeout`` (10), ``http_timeout`` (60),
``reclaim_age`` (604800), ``full_rehash_interval`` (86400), ``handoffs_first`` (false),
``lockup_timeout`` (1800), ``stats_interval`` (300), ``network_chunk_size`` (65536),
``sync_check_interval`` (300: how long a primary partition unchanged since every peer
agreed is left alone; 0 asks the peers at every pass, as Swift does).
"""

from __future__ import annotations

import os
import time

from oiofs.common import runtime
from oiofs.common.config import conf_bool, conf_float, conf_int, oiofs_dir
from oiofs.common.daemon import Daemon
from oiofs.common.exceptions import RingLoadError
from oiofs.common.local_devices import local_devices, whataremyips
from oiofs.common.ring import Ring
from oiofs.common.storage_policy import POLICIES, REPLICATION, StoragePolicy
from oiofs.obj.diskfile_writer import TMP_DIR
from oiofs.obj.hashes import DEFAULT_RECLAIM_AGE
from oiofs.obj.replication_client import ReplicationClient
from oiofs.obj.replication_stats import Heartbeat, ObjectReplicationStats
from oiofs.obj.replication_sync import Job, PartitionSync


class ObjectReplicator(Daemon):
    """The ``object-replicator`` daemon; ``run_once()`` is one pass over local devices.

    ``run_once(devices=[...], partitions=[...])`` limits a pass to some devices or
    partitions (for operators and tests). After a pass, :attr:`last_stats` holds its
    counters.
    """

    name = "object-replicator"
    stats_class = ObjectReplicationStats
    #: the policies this daemon keeps in sync (the others are another daemon's)
    policy_type = REPLICATION
    #: how log lines name the work
    what = "object replication"

    def __init__(self, conf: dict, logger=None):
        super().__init__(conf, logger)
        self.devices_dir = conf.get("devices", "/srv/node")
        self.mount_check = conf_bool(conf, "mount_check", False)
        self.bind_ip = conf.get("bind_ip", "0.0.0.0")
        self.bind_port = conf_int(conf, "bind_port", 6200, minimum=1)
        self.oiofs_dir = oiofs_dir(conf)
        self.concurrency = conf_int(conf, "concurrency", 2, minimum=1)
        self.reclaim_age = conf_float(conf, "reclaim_age", DEFAULT_RECLAIM_AGE)
        interval = conf_float(conf, "full_rehash_interval", 86400.0)
        self.full_rehash_interval = interval if interval > 0 else None
        self.handoffs_first = conf_bool(conf, "handoffs_first", False)
        self.lockup_timeout = conf_float(conf, "lockup_timeout", 1800.0)
        self.stats_interval = conf_float(conf, "stats_interval", 300.0)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.http_timeout = conf_float(conf, "http_timeout", 60.0)
        self.chunk_size = conf_int(conf, "network_chunk_size", 65536, minimum=1)
        self.sync_check_interval = conf_float(conf, "sync_check_interval", 300.0)
        #: primary partitions seen in agreement with their peers (see replication_sync)
        self.agreed: dict[tuple, tuple[str, float]] = {}
        self._rings: dict[int, Ring] = {}
        self._skipped_logged: set[int] = set()
        self.last_stats: ObjectReplicationStats | None = None

    # -- what to replicate -------------------------------------------------------------------

    def ring(self, policy: StoragePolicy) -> Ring | None:
        """The object ring of ``policy`` (loaded once, reloaded when it changes)."""
        ring = self._rings.get(policy.idx)
        if ring is None:
            try:
                ring = self._rings[policy.idx] = Ring(self.oiofs_dir,
                                                      ring_name=policy.ring_name)
            except RingLoadError as err:
                self.logger.error("object replication skips policy %s: %s", policy.idx, err)
                return None
        return ring

    def collect_jobs(self, devices=None, partitions=None) -> list[Job]:
        """One :class:`Job` per partition directory of each local device and policy."""
        my_ips = whataremyips(self.bind_ip)
        wanted_parts = {int(p) for p in partitions} if partitions else None
        jobs = []
        for policy in POLICIES:
            if policy.policy_type != self.policy_type:
                # fragment archives copied as replicas would be wrong: erasure-coded
                # policies are the object reconstructor's (docs/erasure-coding.md), and
                # replicated ones the replicator's
                if policy.idx not in self._skipped_logged:
                    self._skipped_logged.add(policy.idx)
                    self.logger.info("%s skips policy %s (%s): %s is another daemon's",
                                     self.what, policy.idx, policy.name,
                                     policy.policy_type)
                continue
            ring = self.ring(policy)
            if ring is None:
                continue
            for dev in local_devices(ring, my_ips, self.bind_port):
                if devices and dev["device"] not in devices:
                    continue
                device_path = os.path.join(self.devices_dir, dev["device"])
                if self.mount_check and not os.path.ismount(device_path):
                    self.logger.warning("object replication skips %s: not mounted",
                                        device_path)
                    continue
                jobs.extend(self._device_jobs(ring, dev, device_path, policy, wanted_parts))
        if self.handoffs_first:
            jobs.sort(key=lambda job: job.primary)  # stable: handoffs, then primaries
        return jobs

    def _device_jobs(self, ring: Ring, dev: dict, device_path: str, policy: StoragePolicy,
                     wanted_parts: set[int] | None) -> list[Job]:
        objects_dir = os.path.join(device_path, policy.get_diskfile_dir("objects"))
        try:
            names = os.listdir(objects_dir)
        except FileNotFoundError:
            return []
        jobs = []
        for name in names:
            if not name.isdigit():
                continue
            part = int(name)
            if wanted_parts is not None and part not in wanted_parts:
                continue
            if part >= ring.partition_count:
                self.logger.warning("object replication: %s/%s is not a partition of the "
                                    "ring; left alone", objects_dir, name)
                continue
            nodes = ring.get_part_nodes(part)
            primary = any(node["id"] == dev["id"] for node in nodes)
            jobs.append(Job(dev["device"], device_path, policy, part,
                            os.path.join(objects_dir, name),
                            self.sync_nodes(nodes, dev, primary), primary, nodes))
        return jobs

    def sync_nodes(self, nodes: list[dict], dev: dict, primary: bool) -> list[dict]:
        """The nodes a partition of ``dev`` is synced with, given its primaries
        ``nodes``: every other primary (on a handoff: every primary)."""
        return [node for node in nodes if node["id"] != dev["id"]]

    def make_sync(self, client: ReplicationClient, stats: ObjectReplicationStats
                  ) -> PartitionSync:
        """The per-partition worker of one pass."""
        return PartitionSync(client, stats, self.logger, self.reclaim_age,
                             self.full_rehash_interval, self.repeats,
                             self.sync_check_interval, self.agreed)

    # -- a pass ------------------------------------------------------------------------------

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's object ``replication_*`` keys (times in minutes, as Swift's object
        replicator); the stats keep our counters and add ``attempted``/``success``/
        ``failure``/``start``, which ``oiofs-recon`` sums."""
        stats = self.last_stats
        if stats is None:
            return {}
        counters = stats.as_dict()
        counters.update(attempted=stats.partitions, failure=stats.failures,
                        success=max(stats.partitions - stats.failures, 0), start=stats.start)
        minutes = (ended - began) / 60
        return {"replication_stats": counters, "replication_time": minutes,
                "replication_last": ended, "object_replication_time": minutes,
                "object_replication_last": ended}

    def run_once(self, devices=None, partitions=None, **kwargs) -> None:
        """One pass over the local devices (or ``devices``/``partitions``), then a summary."""
        stats = self.stats_class()
        pool = runtime.GreenPool(self.concurrency)
        heartbeat = Heartbeat(pool, stats, self.logger, self.lockup_timeout,
                              self.stats_interval)
        client = ReplicationClient(self.conn_timeout, self.node_timeout, self.http_timeout,
                                   self.chunk_size, f"{self.name} {os.getpid()}",
                                   on_progress=heartbeat.progress)
        sync = self.make_sync(client, stats)
        if isinstance(devices, str):
            devices = [d for d in devices.split(",") if d]
        jobs = self.collect_jobs(devices, partitions)
        stats.partitions_total = len(jobs)
        heartbeat.start()
        try:
            for job in jobs:
                if self.stopping:
                    break
                pool.spawn(self._run_job, sync, job, heartbeat)
            pool.waitall()
        finally:
            heartbeat.stop()
            client.close()
            sync.close()
        for device_path in {job.device_path for job in jobs}:
            self._clean_tmp(device_path)
        stats.requests += client.requests
        stats.bytes_pushed += client.bytes_pushed
        self.last_stats = stats
        self.logger.info("%s", stats.summary_line())

    @staticmethod
    def _run_job(sync: PartitionSync, job: Job, heartbeat: Heartbeat) -> None:
        sync.run(job)
        heartbeat.progress()

    def _clean_tmp(self, device_path: str) -> None:
        """Remove temporary files older than ``reclaim_age`` (left by crashed writers)."""
        tmp_dir = os.path.join(device_path, TMP_DIR)
        cutoff = time.time() - self.reclaim_age
        try:
            names = os.listdir(tmp_dir)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(tmp_dir, name)
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
            except OSError:
                pass
