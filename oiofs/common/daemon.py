"""The base of every background daemon: one pass (``run_once``) or passes forever.

A daemon reads its section of the server's ini file (``[object-replicator]`` in
``object-server.conf``, say) with ``[DEFAULT]`` merged in. Common options: ``interval``
(seconds between the starts of two passes, default 30), ``log_*`` (see
:mod:`oiofs.common.logger`), the metrics options (:mod:`oiofs.common.metrics`),
``devices``, ``mount_check``, ``oiofs_dir``, ``recon_cache_path`` (where the pass stats
go for the server's ``/recon``; see :mod:`oiofs.common.recon_cache`).

After each pass the daemon reports its counters (:meth:`Daemon.report_pass`) to its
metrics: ``<daemon>.passes`` (one), ``<daemon>.pass.timing`` (its duration) and one
counter per field, ``<daemon>.<field>`` increased by the field's value.

Daemons must be safe to kill at any moment: each pass only makes changes that are complete
on their own (rename into place, delete after the peer has acknowledged), so the next pass
simply picks up where the last left off.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from dataclasses import dataclass, field, fields, is_dataclass
from types import FrameType
from typing import Any

from oiofs.common import runtime
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import conf_float, oiofs_dir, readconf
from oiofs.common.logger import RepeatLimiter, get_logger
from oiofs.common.metrics import get_metrics
from oiofs.common.recon_cache import dump_recon_cache, recon_cache_file


@dataclass
class PassStats:
    """The counters of one daemon pass, and the one summary line the pass logs at its end.

    Subclasses are dataclasses that add counters, all with defaults (``found: int = 0``).
    ``started`` (when the pass began) is keyword-only, so a subclass's counters keep their
    own positional order.
    """

    started: float = field(default_factory=time.time, kw_only=True)

    def counters(self) -> dict[str, Any]:
        """Every counter by name (``started`` left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "started"}

    def summary(self) -> str:
        """One line with every counter, in field order, and the duration so far."""
        counters = " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                            if f.name != "started")
        return f"{counters} duration={time.time() - self.started:.2f}s"


class Daemon:
    """A background job with ``run_once`` (one pass) and ``run_forever`` (a pass each interval)."""

    #: section name in the server's ini file
    name = "daemon"

    def __init__(self, conf: dict[str, Any], logger: logging.Logger | None = None):
        self.conf = conf
        self.logger = logger or get_logger(conf, self.name)
        self.metrics = get_metrics(conf, self.name)
        self.interval = conf_float(conf, "interval", 30.0)
        # a node down fails every request sent to it: one warning per node per interval
        self.repeats = RepeatLimiter(conf_float(conf, "log_repeat_interval", 10.0))
        self.stopping = False

    def run_once(self, **kwargs: Any) -> PassStats | None:
        """Do one complete pass (and say what it did, where the daemon counts)."""
        raise NotImplementedError

    def report_pass(self, stats: object) -> None:
        """Send a finished pass's counters and duration to the metrics.

        ``stats`` is what ``run_once`` returned: a :class:`PassStats` or another dataclass
        of counters; for a daemon whose ``run_once`` returns nothing, its ``last_stats``
        (one dataclass or a list of them, one per sweep) if it keeps them.
        """
        if not self.metrics.enabled:
            return
        if stats is None:
            stats = getattr(self, "last_stats", None)
        for one in stats if isinstance(stats, list) else [stats]:
            if not is_dataclass(one) or isinstance(one, type):
                continue
            self.metrics.increment("passes")
            start = getattr(one, "started", None) or getattr(one, "start", None)
            if isinstance(start, float):
                end = getattr(one, "end", None)
                self.metrics.timing("pass.timing", (end if isinstance(end, float)
                                                    else time.time()) - start)
            for item in fields(one):
                value = getattr(one, item.name)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.metrics.increment(item.name, value)
        self.metrics.flush()

    def recon_entries(self, result: Any, began: float, ended: float) -> dict[str, Any]:
        """What a pass that ran from ``began`` to ``ended`` (``time.time()``) and returned
        ``result`` leaves in the recon cache (Swift's key names); ``{}``: nothing."""
        return {}

    def run_pass(self, **kwargs: Any) -> Any:
        """``run_once``, then the repeated warnings it left out whose interval passed
        (:class:`RepeatLimiter`) and its stats into the recon cache of the daemon's server type
        (``object-replicator`` -> ``object.recon``); ``run_once``'s result."""
        began = time.time()
        try:
            result = self.run_once(**kwargs)
        finally:
            self.repeats.flush()  # the counts of the warnings left out, when due
        entries = self.recon_entries(result, began, time.time())
        if entries:
            path = recon_cache_file(self.conf, self.name.split("-", 1)[0])
            try:
                dump_recon_cache(path, entries)
            except Exception as err:  # recon is a view; the daemon's work goes on
                self.logger.warning("%s: recon cache %s not written: %s", self.name, path,
                                    err)
        return result

    def run_forever(self, **kwargs: Any) -> None:
        """Do a pass every ``interval`` seconds until stopped; a failed pass is logged."""
        time.sleep(random.random() * min(self.interval, 5))  # do not start in lockstep
        while not self.stopping:
            begin = time.time()
            try:
                self.report_pass(self.run_pass(**kwargs))
            except Exception:  # a daemon survives one bad pass
                self.logger.exception("unhandled error in %s pass", self.name)
            elapsed = time.time() - begin
            if elapsed < self.interval and not self.stopping:
                time.sleep(self.interval - elapsed)


def run_daemon(klass: type[Daemon], conf_path: str, section: str | None = None,
               once: bool = False, **kwargs: Any) -> int:
    """Load ``section`` of ``conf_path``, build ``klass`` and run it; exit status."""
    runtime.monkey_patch()
    conf = readconf(conf_path, section or klass.name)
    load_cluster_config(oiofs_dir(conf))
    daemon = klass(conf)

    def stop(signum: int, frame: FrameType | None) -> None:
        daemon.stopping = True
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    if once:
        try:
            daemon.report_pass(daemon.run_pass(**kwargs))
        finally:
            daemon.repeats.flush(everything=True)  # the pass's counts, even if short
    else:
        daemon.run_forever(**kwargs)
    return 0
