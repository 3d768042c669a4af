"""The outcome of a run: :class:`BenchReport`, its readable table and its JSON document."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from oiofs.bench.config import BenchConfig
from oiofs.bench.stats import PhaseResult


@dataclass
class CleanupResult:
    """What deleting the run's objects and containers took."""

    objects: int = 0
    containers: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)


@dataclass
class BenchReport:
    """Every phase's result plus what went wrong outside the phases."""

    storage_url: str
    config: BenchConfig
    cpu_measured: bool = False
    started: float = field(default_factory=time.time)
    phases: list[PhaseResult] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    cleanup: CleanupResult = field(default_factory=CleanupResult)
    stale_retries: int = 0

    @property
    def errors(self) -> int:
        """Failed requests in every phase, in set-up and in cleanup."""
        return (sum(p.errors for p in self.phases) + len(self.setup_errors)
                + self.cleanup.errors)

    @property
    def failures(self) -> int:
        """Wrong answers (verification failures) in every phase."""
        return sum(p.failures for p in self.phases)

    @property
    def ok(self) -> bool:
        """True when nothing errored and everything verified."""
        return not self.errors and not self.failures


def to_json(report: BenchReport) -> dict:
    """A JSON-ready document of the run (config without the key)."""
    config = dataclasses.asdict(report.config)
    config.pop("key", None)
    return {"storage_url": report.storage_url,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(report.started)),
            "config": config, "cpu_measured": report.cpu_measured,
            "phases": [phase.to_dict() for phase in report.phases],
            "setup_errors": report.setup_errors,
            "cleanup": dataclasses.asdict(report.cleanup),
            "stale_connection_retries": report.stale_retries,
            "errors": report.errors, "failures": report.failures, "ok": report.ok}


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = ("phase", "ok", "err", "bad", "secs", "req/s", "MB/s", "p50 ms", "p99 ms",
           "CPU ms/op")


def format_table(report: BenchReport) -> str:
    """The run as an aligned text table, one row per phase, then totals and messages."""
    cfg = report.config
    rows = [COLUMNS]
    for p in report.phases:
        rows.append((p.label or p.name, str(p.ops), str(p.errors), str(p.failures),
                     _cell(p.elapsed, 2), _cell(p.rate, 1), _cell(p.mb_per_s, 1),
                     _cell(p.latency_ms(50), 2), _cell(p.latency_ms(99), 2),
                     _cell(p.cpu_ms_per_op, 2)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [f"oiofs-bench {report.storage_url}  concurrency {cfg.concurrency}  "
             f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(report.started))}"]
    for row in rows:
        lines.append("  ".join([row[0].ljust(widths[0])]
                               + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:],
                                                                     strict=True)]))
    for p in report.phases:
        if p.name == "LIST" and "pages" in p.extra:
            lines.append(f"listing: {p.extra['listed']} of {p.extra['objects']} names in "
                         f"{p.extra['pages']} pages of up to {cfg.list_page}, "
                         f"{p.elapsed:.3f} s (settled after {p.extra['settle_s']} s)")
    if not report.cpu_measured:
        lines.append("CPU ms/op: not measured (give --cpu-pids or --cpu-pattern)")
    lines.append(f"cleanup: {report.cleanup.objects} objects and "
                 f"{report.cleanup.containers} containers deleted, "
                 f"{report.cleanup.errors} errors")
    if report.stale_retries:
        lines.append(f"requests resent on a fresh connection after an idle keep-alive "
                     f"connection closed: {report.stale_retries}")
    messages = report.setup_errors + report.cleanup.messages
    messages += [m for p in report.phases for m in p.messages]
    for message in messages:
        lines.append(f"  ! {message}")
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {report.errors} request errors, "
                 f"{report.failures} verification failures")
    return "\n".join(lines)
