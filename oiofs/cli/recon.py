"""``oiofs-recon [checks] [account|container|object]``: ask every node of a ring how it is.

Like ``swift-recon``: the hosts are the ``ip:port`` of every device of the ring of the
server type (object: the rings of every policy, or of ``--policy``); each check asks each
host for one ``/recon/<what>`` path at once and prints a summary over the hosts (low,
high, average, total, the share of hosts that failed). ``--md5`` compares every host's ring
files and ``oiofs.conf`` with the local ones (``--oiofs-dir``) and names those that differ;
a host that does not answer is always named (``!!`` lines). ``--json`` prints every
check's answers and summary as one JSON object instead.

Exit status: 0 when every host answered and agreed; 1 when a host did not answer or its
rings differ from the local ones; 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from oiofs.cli.output import say
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import DEFAULT_OIOFS_DIR
from oiofs.common.exceptions import ConfigError, RingError
from oiofs.common.recon import file_md5
from oiofs.common.ring.ring import Ring
from oiofs.common.storage_policy import POLICIES

Host = tuple[str, int]
LINE = "=" * 79


def host_name(host: Host) -> str:
    """``ip:port`` (``[ip]:port`` for IPv6)."""
    ip, port = host
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass
class Scout:
    """Asks hosts for ``/recon/<path>`` in parallel; remembers who did not answer."""

    timeout: float = 5.0
    #: host -> the reason it did not answer (first failure only)
    failed: dict[Host, str] = field(default_factory=dict)

    def ask(self, host: Host, path: str) -> Any:
        """The JSON answer of ``host`` for ``/recon/<path>``; ``None`` if it failed."""
        ip, port = host
        url = f"http://{host_name(host)}/recon/{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            self.failed.setdefault(host, f"{url}: HTTP {err.code}")
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            self.failed.setdefault(host, f"{url}: {reason}")
        return None

    def ask_all(self, hosts: list[Host], path: str) -> dict[Host, Any]:
        """``{host: answer or None}`` for every host."""
        with ThreadPoolExecutor(max_workers=min(16, max(len(hosts), 1))) as pool:
            answers = list(pool.map(lambda h: self.ask(h, path), hosts))
        return dict(zip(hosts, answers, strict=True))


def summarise(values: dict[Host, Any], hosts_total: int) -> dict[str, Any]:
    """low/high/avg/total over the hosts that reported a number, the failed share."""
    numbers = [v for v in values.values() if isinstance(v, int | float)
               and not isinstance(v, bool)]
    no_result = hosts_total - len(numbers)
    summary: dict[str, Any] = {"reported": len(numbers), "no_result": no_result,
                               "failed_percent": round(100.0 * no_result / hosts_total, 1)
                               if hosts_total else 0.0}
    if numbers:
        summary.update(low=_round(min(numbers)), high=_round(max(numbers)),
                       avg=_round(sum(numbers) / len(numbers)), total=_round(sum(numbers)))
    return summary


def _round(value: float) -> float:
    return value if isinstance(value, int) else round(value, 4)


def summary_line(name: str, summary: dict[str, Any]) -> str:
    """``[name] low: 0, high: 3, avg: 1.0, total: 4, Failed: 0.0%, no_result: 0, ...``"""
    if not summary["reported"]:
        return f"[{name}] - No hosts returned valid data."
    return (f"[{name}] low: {summary['low']}, high: {summary['high']}, avg: "
            f"{summary['avg']}, total: {summary['total']}, Failed: "
            f"{summary['failed_percent']}%, no_result: {summary['no_result']}, "
            f"reported: {summary['reported']}")


def _at(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass
class Check:
    """One check: what it asks, and the (name -> key path) figures it summarises."""

    path: str
    title: str
    figures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: key path of a completion time, for "oldest/most recent completion" lines
    last: tuple[str, ...] = ()


def stats_checks(server_type: str) -> dict[str, Check]:
    """The summarising checks that apply to ``server_type``, by option name."""
    t = server_type
    checks = {
        "load": Check("load", "Checking load averages",
                      {"1m_load_avg": ("1m",), "5m_load_avg": ("5m",),
                       "15m_load_avg": ("15m",)}),
        "quarantined": Check("quarantined", "Checking quarantine",
                             {f"quarantined_{k}": (k,)
                              for k in ("objects", "containers", "accounts")}),
        "sockstat": Check("sockstat", "Checking socket usage",
                          {k: (k,) for k in ("tcp_in_use", "orphan", "time_wait",
                                             "tcp_mem_allocated_bytes")}),
        "replication": Check(
            f"replication/{t}", "Checking on replication",
            {f"replication_{k}": ("replication_stats", k)
             for k in ("attempted", "success", "failure")}
            | {"replication_time": ("replication_time",)}, last=("replication_last",)),
    }
    if t == "object":
        checks["async"] = Check("async", "Checking async pendings",
                                {"async_pending": ("async_pending",)})
        checks["auditor"] = Check("auditor/object", "Checking auditor stats", {
            f"{k}_{mode}": (f"object_auditor_stats_{mode}", k) for mode in ("ALL", "ZBF")
            for k in ("passes", "errors", "quarantined", "bytes_processed", "audit_time")})
        checks["expirer"] = Check("expirer/object", "Checking on expirers", {
            "object_expiration_pass": ("object_expiration_pass",),
            "expired_last_pass": ("expired_last_pass",)})
    else:
        checks["auditor"] = Check(f"auditor/{t}", "Checking auditor stats", {
            f"{t}_audits_passed": (f"{t}_audits_passed",),
            f"{t}_audits_failed": (f"{t}_audits_failed",),
            f"{t}_auditor_pass_completed": (f"{t}_auditor_pass_completed",)},
            last=(f"{t}_audits_since",))
    if t in ("object", "container"):
        checks["updater"] = Check(f"updater/{t}", "Checking updater times",
                                  {f"{t}_updater_sweep": (f"{t}_updater_sweep",)})
    return checks


class Recon:
    """The checks of one run over ``hosts``; each prints (or collects, for ``--json``)."""

    def __init__(self, hosts: list[Host], server_type: str, oiofs_dir: str, scout: Scout,
                 out: Callable[[str], None]):
        self.hosts = hosts
        self.server_type = server_type
        self.oiofs_dir = oiofs_dir
        self.scout = scout
        self.out = out
        self.report: dict[str, Any] = {}
        self.problems = 0

    def heading(self, title: str) -> None:
        self.out(LINE)
        self.out(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {title}")

    def _answers(self, path: str) -> dict[Host, Any]:
        return self.scout.ask_all(self.hosts, path)

    def stats(self, name: str, check: Check) -> None:
        """Ask ``check.path`` and print one summary line per figure."""
        self.heading(check.title)
        answers = self._answers(check.path)
        result: dict[str, Any] = {"hosts": {host_name(h): a for h, a in answers.items()}}
        for figure, keys in check.figures.items():
            summary = summarise({h: _at(a, *keys) for h, a in answers.items()},
                                len(self.hosts))
            result[figure] = summary
            self.out(summary_line(figure, summary))
        if check.last:
            times = {h: _at(a, *check.last) for h, a in answers.items()}
            known = {h: t for h, t in times.items() if isinstance(t, int | float)}
            if known:
                oldest = min(known, key=lambda h: known[h])
                newest = max(known, key=lambda h: known[h])
                for word, host in (("Oldest", oldest), ("Most recent", newest)):
                    self.out(f"{word} completion was {_when(known[host])} by "
                             f"{host_name(host)}.")
            else:
                self.out("[last_completion] - No hosts returned valid data.")
        self.report[name] = result

    def md5(self) -> None:
        """Compare every host's ring and ``oiofs.conf`` md5s with the local files."""
        self.heading("Checking ring md5sums")
        local = {}
        for name in sorted(os.listdir(self.oiofs_dir)):
            if name.endswith(".ring.gz"):
                local[name] = file_md5(os.path.join(self.oiofs_dir, name))
        result: dict[str, Any] = {"local": local, "matched": [], "differ": {}}
        answers = self._answers("ringmd5")
        self._compare(answers, local, result)
        self.out(f"{len(result['matched'])}/{len(self.hosts)} hosts matched, "
                 f"{len(self.hosts) - len(result['matched']) - len(result['differ'])} "
                 "error[s] while checking hosts.")
        self.report["ringmd5"] = result
        self.heading("Checking oiofs.conf md5sum")
        conf_path = os.path.join(self.oiofs_dir, "oiofs.conf")
        conf = {"oiofs.conf": file_md5(conf_path)} if os.path.exists(conf_path) else {}
        conf_result: dict[str, Any] = {"local": conf, "matched": [], "differ": {}}
        self._compare(self._answers("swiftconfmd5"), conf, conf_result)
        self.out(f"{len(conf_result['matched'])}/{len(self.hosts)} hosts matched, "
                 f"{len(self.hosts) - len(conf_result['matched']) - len(conf_result['differ'])}"
                 " error[s] while checking hosts.")
        self.report["confmd5"] = conf_result

    def _compare(self, answers: dict[Host, Any], local: dict[str, str],
                 result: dict[str, Any]) -> None:
        for host, answer in answers.items():
            if not isinstance(answer, dict):
                continue
            remote = {os.path.basename(path): value for path, value in answer.items()}
            differ = sorted(name for name in set(local) | set(remote)
                            if local.get(name) != remote.get(name))
            if differ:
                result["differ"][host_name(host)] = differ
                self.problems += 1
                for name in differ:
                    self.out(f"!! http://{host_name(host)}/recon/ringmd5 ({name}) "
                             "doesn't match on disk md5sum")
            else:
                result["matched"].append(host_name(host))

    def disk_usage(self) -> None:
        """Per-device use (percent), the cluster's total, and unmounted devices."""
        self.heading("Checking disk usage now")
        answers = self._answers("diskusage")
        percents: dict[str, float] = {}
        unmounted = []
        size = used = 0
        for host, devices in answers.items():
            for dev in devices if isinstance(devices, list) else []:
                where = f"{host_name(host)}/{dev.get('device')}"
                if not dev.get("mounted") or not dev.get("size"):
                    unmounted.append(where)
                    continue
                size += dev["size"]
                used += dev["used"]
                percents[where] = round(100.0 * dev["used"] / dev["size"], 2)
        for where in unmounted:
            self.out(f"Not mounted: {where}")
        if percents:
            values = sorted(percents.values())
            self.out(f"Disk usage: space used: {used} of {size}")
            self.out(f"Disk usage: space free: {size - used} of {size}")
            self.out(f"Disk usage: lowest: {values[0]}%, highest: {values[-1]}%, avg: "
                     f"{round(sum(values) / len(values), 2)}%")
        else:
            self.out("Error: No hosts available or returned valid information.")
        self.report["diskusage"] = {"devices_percent_used": percents, "unmounted": unmounted,
                                    "used": used, "size": size}

    def unmounted(self) -> None:
        """Name every device a host says is not mounted."""
        self.heading("Getting unmounted drives from %d hosts..." % len(self.hosts))
        found = []
        for host, devices in self._answers("unmounted").items():
            for dev in devices if isinstance(devices, list) else []:
                found.append(f"{host_name(host)}/{dev.get('device')}")
                self.out(f"Not mounted: {dev.get('device')} on {host_name(host)}")
        self.out(f"{len(found)} unmounted device(s)")
        self.report["unmounted"] = found

    def time(self) -> None:
        """Hosts whose clock is more than a second off the local one."""
        self.heading("Checking time-sync")
        skewed = {}
        for host, remote in self._answers("time").items():
            if isinstance(remote, int | float) and abs(remote - time.time()) > 1.0:
                skewed[host_name(host)] = remote
                self.out(f"!! http://{host_name(host)}/recon/time current time is "
                         f"{_when(remote)} but local is {_when(time.time())}")
        answered = sum(1 for h in self.hosts if h not in self.scout.failed)
        self.out(f"{answered - len(skewed)}/{len(self.hosts)} hosts matched, "
                 f"{len(self.hosts) - answered} error[s] while checking hosts.")
        self.report["time"] = {"skewed": skewed}

    def version(self) -> None:
        """The oiofs version of every host; all should be the same."""
        self.heading("Checking versions")
        versions: dict[str, list[str]] = {}
        for host, answer in self._answers("version").items():
            if isinstance(answer, dict):
                versions.setdefault(str(answer.get("version")), []).append(host_name(host))
        for version, hosts in sorted(versions.items()):
            self.out(f"Version {version}: {len(hosts)} host(s)")
        if len(versions) > 1:
            self.out("!! hosts run different versions")
            self.problems += 1
        self.report["version"] = versions

    def unreachable(self) -> None:
        """Name every host that did not answer some check."""
        self.out(LINE)
        for host, reason in sorted(self.scout.failed.items()):
            self.out(f"!! {host_name(host)} did not answer: {reason}")
        self.out(f"{len(self.hosts) - len(self.scout.failed)}/{len(self.hosts)} hosts "
                 "answered every check.")
        self.report["unreachable"] = {host_name(h): r for h, r in self.scout.failed.items()}


def _when(stamp: float) -> str:
    ago = max(int((time.time() - stamp) / 60), 0)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))} ({ago} minutes ago)"


def ring_hosts(oiofs_dir: str, server_type: str, policy: str | None = None) -> list[Host]:
    """The ``(ip, port)`` of every device of the ring(s) of ``server_type``, sorted."""
    if server_type == "object":
        load_cluster_config(oiofs_dir)
        if policy is not None:
            chosen = POLICIES.get_by_name(policy) or POLICIES.get_by_index(policy)
            if chosen is None:
                raise ConfigError(f"no storage policy {policy!r}")
            names = [chosen.ring_name]
        else:
            names = [p.ring_name for p in POLICIES]
    else:
        names = [server_type]
    hosts: set[Host] = set()
    for name in names:
        ring = Ring(oiofs_dir, ring_name=name)
        hosts.update((d["ip"], int(d["port"])) for d in ring.devs if d)
    return sorted(hosts)


#: option name -> help; the checks ``--all`` runs, in the order they run
CHECK_OPTIONS: dict[str, str] = {
    "async": "async pendings (object)",
    "replication": "replication pass stats and times",
    "auditor": "auditor pass stats",
    "updater": "updater sweep times (object, container)",
    "expirer": "expirer pass stats (object)",
    "unmounted": "devices that are not mounted",
    "diskusage": "disk usage",
    "load": "load averages",
    "quarantined": "quarantined objects and databases",
    "sockstat": "socket usage",
    "md5": "ring and oiofs.conf md5s against the local files",
    "time": "clock skew against this machine",
    "version": "oiofs version of every host",
}
SHORT = {"async": "-a", "replication": "-r", "unmounted": "-u", "diskusage": "-d",
         "load": "-l", "quarantined": "-q", "time": "-T"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oiofs-recon", description="Ask every node of a ring how it is (swift-recon).")
    parser.add_argument("server_type", nargs="?", default="object",
                        choices=("account", "container", "object"))
    for name, text in CHECK_OPTIONS.items():
        flags = [SHORT[name]] if name in SHORT else []
        parser.add_argument(*flags, f"--{name}", action="store_true", help=text)
    parser.add_argument("--all", action="store_true", help="every check")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every host's raw answer")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("-t", "--timeout", type=float, default=5.0,
                        help="seconds to wait for each host (default 5)")
    parser.add_argument("--policy", help="object: only the hosts of this policy's ring")
    parser.add_argument("--oiofs-dir", default=os.environ.get("OIOFS_DIR", DEFAULT_OIOFS_DIR),
                        help="directory of oiofs.conf and the rings (default $OIOFS_DIR or "
                             f"{DEFAULT_OIOFS_DIR})")
    return parser


def run(opts: argparse.Namespace, out: Callable[[str], None]) -> tuple[Recon, int]:
    """Run the asked checks; the run and its exit status."""
    hosts = ring_hosts(opts.oiofs_dir, opts.server_type, opts.policy)
    scout = Scout(timeout=opts.timeout)
    recon = Recon(hosts, opts.server_type, opts.oiofs_dir, scout, out)
    out(LINE)
    out(f"--> Starting reconnaissance on {len(hosts)} hosts ({opts.server_type})")
    stats = stats_checks(opts.server_type)
    special: dict[str, Callable[[], None]] = {
        "md5": recon.md5, "diskusage": recon.disk_usage, "unmounted": recon.unmounted,
        "time": recon.time, "version": recon.version}
    asked = [name for name in CHECK_OPTIONS if opts.all or getattr(opts, name)]
    for name in asked:
        if name in special:
            special[name]()
        elif name in stats:
            recon.stats(name, stats[name])
        elif not opts.all:
            out(LINE)
            out(f"--{name} does not apply to {opts.server_type} servers")
    if opts.verbose:
        for name, result in recon.report.items():
            for host, answer in (result.get("hosts") or {}).items():
                out(f"-> {name} {host}: {json.dumps(answer, sort_keys=True)}")
    recon.unreachable()
    out(LINE)
    return recon, 1 if scout.failed or recon.problems else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``oiofs-recon``."""
    opts = _parser().parse_args(argv)
    lines: list[str] = []
    out: Callable[[str], None] = lines.append if opts.json else say
    try:
        recon, status = run(opts, out)
    except (ConfigError, RingError, OSError) as err:
        print(f"oiofs-recon: {err}", file=sys.stderr)
        return 2
    if opts.json:
        json.dump(recon.report, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
