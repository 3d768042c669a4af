"""What a replication pass did, and the heartbeat that notices when it stops moving.

:class:`ObjectReplicationStats` counts a pass's work and formats the progress and pass
summary lines (:class:`ObjectReconstructionStats` the object reconstructor's).
:class:`Heartbeat` is a green thread beside the workers: every ``stats_interval`` it logs
progress, and when nothing progressed for ``lockup_timeout`` (no request finished, no
partition done) it kills the workers, so that one hung peer cannot stall replication of
the whole node. A killed partition is simply retried at the next pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oiofs.common import runtime


@dataclass
class ObjectReplicationStats:
    """Counters of one pass; ``requests``/``bytes_pushed`` are filled in from the client."""

    start: float = field(default_factory=time.time)
    partitions_total: int = 0
    partitions: int = 0
    handoff_partitions: int = 0
    #: primaries left alone: unchanged since every peer was seen to agree (recently)
    partitions_unchanged: int = 0
    suffixes_hashed: int = 0
    suffixes_synced: int = 0
    files_pushed: int = 0
    bytes_pushed: int = 0
    handoffs_removed: int = 0
    quarantined: int = 0
    failures: int = 0
    lockups: int = 0
    requests: int = 0

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the pass started."""
        return max((time.time() if now is None else now) - self.start, 1e-9)

    def progress_line(self, now: float | None = None) -> str:
        """A progress line for the log while the pass runs."""
        elapsed = self.elapsed(now)
        return (f"object replication progress: {self.partitions}/{self.partitions_total} "
                f"partitions in {elapsed:.1f}s ({self.partitions / elapsed:.1f}/s), "
                f"{self.files_pushed} files pushed, {self.failures} failures")

    def summary_line(self, now: float | None = None) -> str:
        """The pass summary: what was checked, hashed, synced, pushed, removed, failed."""
        elapsed = self.elapsed(now)
        return (f"object replication pass done: {self.partitions} partitions checked "
                f"({self.handoff_partitions} handoff, {self.partitions_unchanged} "
                f"unchanged) in {elapsed:.2f}s "
                f"({self.partitions / elapsed:.1f}/s); {self.suffixes_hashed} suffixes "
                f"hashed, {self.suffixes_synced} suffixes synced, {self.files_pushed} files "
                f"pushed ({self.bytes_pushed} bytes), {self.handoffs_removed} handoff "
                f"partitions removed, {self.quarantined} quarantined, {self.failures} "
                f"failures, {self.lockups} lockups, {self.requests} requests")

    def as_dict(self) -> dict:
        """The counters as a plain dict (for tests and tools)."""
        return {key: value for key, value in self.__dict__.items() if key != "start"}


@dataclass
class ObjectReconstructionStats(ObjectReplicationStats):
    """The replicator's counters, and the archives rebuilt (pushed to a neighbour),
    committed (a neighbour's whose commit was lost) or reverted (sent home from a
    handoff), the rebuilds that failed (fewer than ``k`` archives readable) and the
    archives dropped mid-rebuild for a bad fragment."""

    archives_rebuilt: int = 0
    archives_committed: int = 0
    archives_reverted: int = 0
    rebuild_failures: int = 0
    bad_fragments: int = 0

    def progress_line(self, now: float | None = None) -> str:
        """A progress line for the log while the pass runs."""
        elapsed = self.elapsed(now)
        return (f"object reconstruction progress: {self.partitions}/"
                f"{self.partitions_total} partitions in {elapsed:.1f}s, "
                f"{self.archives_rebuilt} archives rebuilt, {self.archives_reverted} "
                f"reverted, {self.failures} failures")

    def summary_line(self, now: float | None = None) -> str:
        """The pass summary."""
        elapsed = self.elapsed(now)
        return (f"object reconstruction pass done: {self.partitions} partitions checked "
                f"({self.handoff_partitions} handoff) in {elapsed:.2f}s; "
                f"{self.suffixes_hashed} suffixes hashed, {self.suffixes_synced} suffixes "
                f"synced, {self.archives_rebuilt} archives rebuilt, "
                f"{self.archives_committed} committed, {self.archives_reverted} reverted, "
                f"{self.files_pushed} files pushed "
                f"({self.bytes_pushed} bytes), {self.handoffs_removed} handoff partitions "
                f"removed, {self.rebuild_failures} rebuild failures, {self.bad_fragments} "
                f"bad fragments, {self.quarantined} quarantined, {self.failures} failures, "
                f"{self.lockups} lockups, {self.requests} requests")


class Heartbeat:
    """Logs progress and kills the workers of ``pool`` when no progress is seen.

    Call :meth:`progress` whenever work moves on; :meth:`start`/:meth:`stop` around the
    pass. ``clock`` is injectable for tests.
    """

    def __init__(self, pool, stats: ObjectReplicationStats, logger, lockup_timeout: float,
                 stats_interval: float, clock=time.monotonic):
        self.pool = pool
        self.stats = stats
        self.logger = logger
        self.lockup_timeout = lockup_timeout
        self.stats_interval = stats_interval
        self.clock = clock
        self.last_progress = clock()
        self.last_report = self.last_progress
        self._thread = None

    def progress(self) -> None:
        """Note that work moved on."""
        self.last_progress = self.clock()

    def check(self) -> int:
        """Log progress if due; kill the workers if locked up. How many were killed."""
        now = self.clock()
        if now - self.last_report >= self.stats_interval:
            self.last_report = now
            self.logger.info("%s", self.stats.progress_line())
        if now - self.last_progress < self.lockup_timeout:
            return 0
        workers = list(self.pool.coroutines_running)
        if not workers:
            return 0
        self.logger.error("object replication: no progress for %.0fs, killing %d stuck "
                          "worker(s); their partitions are retried at the next pass",
                          now - self.last_progress, len(workers))
        for worker in workers:
            worker.kill()
        self.stats.lockups += 1
        self.stats.failures += len(workers)
        self.last_progress = now
        return len(workers)

    def _run(self) -> None:
        period = max(0.05, min(self.stats_interval, self.lockup_timeout / 10.0))
        while True:
            runtime.sleep(period)
            self.check()

    def start(self) -> None:
        """Start the heartbeat green thread."""
        self._thread = runtime.spawn(self._run)

    def stop(self) -> None:
        """Stop the heartbeat green thread."""
        if self._thread is not None:
            self._thread.kill()
            self._thread = None
