"""Metrics of a server or daemon: statsd packets and a Prometheus ``/metrics`` page.

One :class:`Metrics` per component and process, made by :func:`get_metrics` from the
options of the component's ``[DEFAULT]`` (or daemon) section, like the logger:

``log_statsd_host`` (no statsd when empty, the default), ``log_statsd_port`` (8125),
``log_statsd_metric_prefix`` (put before every name, e.g. the node's name),
``log_statsd_default_sample_rate`` (1.0) -- Swift's options and metric names;
``prometheus_enabled`` (false) and ``prometheus_multiproc_dir`` (where the processes of
the component keep their figures; a fresh temporary directory when empty).

Both outlets get the same figures. statsd names follow Swift (``proxy-server.object.GET.
200.timing``, ``object-server.PUT.timing``...); Prometheus gets the same data as a few
labelled families (``oiofs_requests_total{server,type,method,status,policy}``...), listed
in ``docs/metrics.md``.

Several workers: a server forks its workers after the metrics exist, so Prometheus runs
in the client library's *multiprocess mode*: every process (each worker, and the daemons
given the same ``prometheus_multiproc_dir``) writes its counters to its own memory-mapped
file in that directory, and ``/metrics``, whichever worker answers it, sums them all.
A disabled outlet costs nothing; with neither, every method returns at once.

Cheap on every request: Prometheus figures are added up in plain dictionaries and written
to the shared files once a second (:meth:`Metrics.flush`, called by a green thread of
each server worker, after each daemon pass and before a page is made), because each
write into those files costs several microseconds. A page can thus lag up to a second
behind the requests of another worker, and a worker killed loses its last second.

Several directories in one process (``oiofs-daemon group`` runs daemons of the object,
container and account servers, each reading its own server's directory): the client
library keeps one process-wide directory (``PROMETHEUS_MULTIPROC_DIR``), so here each
directory gets a value class of its own (:func:`_value_class`), and the environment names
that directory while this module creates or writes its figures (:func:`_writing_into`).
Each component's figures thus land in its own directory, and its server's page shows them.
"""

from __future__ import annotations

import glob
import math
import os
import re
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from oiofs.common.config import conf_bool, conf_float, conf_int

#: the options read here (from ``[DEFAULT]``, where the samples document them)
OPTIONS = ("log_statsd_host", "log_statsd_port", "log_statsd_metric_prefix",
           "log_statsd_default_sample_rate", "prometheus_enabled", "prometheus_multiproc_dir")
#: verbs named in metrics as they are; any other becomes ``BAD_METHOD`` (as in Swift)
KNOWN_METHODS = frozenset((
    "GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "REPLICATE", "UPDATE",
    "SSYNC"))
#: the content type of the Prometheus text format
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: upper bounds of the histogram buckets (seconds): the client library's defaults
BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)

#: the client library's (process-wide) directory variable
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_families: dict[str, Any] = {}
_instances: dict[str, Metrics] = {}
# directory -> the client library's file-backed value class writing into it
_value_classes: dict[str, Any] = {}


def metric_method(method: str) -> str:
    """The verb as metrics name it (``BAD_METHOD`` for an unknown one)."""
    return method if method in KNOWN_METHODS else "BAD_METHOD"


def _prometheus_families() -> dict[str, Any]:
    """The labelled metric families of this process, made once."""
    if not _families:
        from prometheus_client import Counter, Histogram

        _families.update(
            requests=Counter("oiofs_requests", "Requests answered",
                             ("server", "type", "method", "status", "policy"),
                             registry=None),
            duration=Histogram("oiofs_request_duration_seconds",
                               "Time from a request's arrival to its last byte sent",
                               ("server", "type", "method"), buckets=BUCKETS,
                               registry=None),
            bytes=Counter("oiofs_request_bytes", "Body bytes received and sent",
                          ("server", "type", "direction"), registry=None),
            events=Counter("oiofs_events", "Counted events (statsd counters)",
                           ("server", "event"), registry=None),
            timing=Histogram("oiofs_timing_seconds", "Timed events (statsd timings)",
                             ("server", "event"), buckets=BUCKETS, registry=None))
    return _families


def _value_class(path: str) -> Any:
    """The client library's multiprocess value class for directory ``path``: its own
    files (one per kind and process), apart from every other directory's."""
    klass = _value_classes.get(path)
    if klass is None:
        from prometheus_client import values

        klass = _value_classes[path] = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return klass


@contextmanager
def _writing_into(path: str) -> Iterator[None]:
    """Figures created or written in this block go to the files of directory ``path``.

    The library names a file from the environment when a value is created, and again
    for every value of a class at its first write after a fork (a worker); all values of
    one class are written here only, within this block, so they all stay in ``path``.
    """
    from prometheus_client import values

    saved_class, saved_dir = values.ValueClass, os.environ.get(MULTIPROC_ENV)
    values.ValueClass = _value_class(path)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        values.ValueClass = saved_class
        if saved_dir is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = saved_dir


def prune_dead_files(path: str) -> None:
    """Remove the figure files of processes that no longer run (a previous start)."""
    for name in glob.glob(os.path.join(path, "*_*.db")):
        match = re.search(r"_(\d+)\.db$", name)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            os.unlink(name)
        except PermissionError:
            pass


class Metrics:
    """Counters and timings of one component (``server``: its statsd prefix and label)."""

    def __init__(self, server: str, statsd_client: Any = None,
                 prometheus_dir: str | None = None, proxy_style: bool = False,
                 sample_rate: float = 1.0):
        self.server = server
        self.statsd = statsd_client
        self.prometheus_dir = prometheus_dir
        self.proxy_style = proxy_style
        self.sample_rate = sample_rate
        self.enabled = statsd_client is not None or prometheus_dir is not None
        self._owned_dir: str | None = None
        self._children: dict[tuple[Any, ...], Any] = {}
        self._prom = _prometheus_families() if prometheus_dir is not None else None
        # not yet written: (family, *labels) -> amount, and -> [sum, count per bucket...]
        self._counts: dict[tuple[str, ...], float] = {}
        self._observed: dict[tuple[str, ...], list[float]] = {}

    def _child(self, family: str, *labels: str) -> Any:
        key = (family, *labels)
        child = self._children.get(key)
        if child is None:
            assert self._prom is not None and self.prometheus_dir is not None
            with _writing_into(self.prometheus_dir):
                child = self._prom[family].labels(self.server, *labels)
            self._children[key] = child
        return child

    # --- what components report -------------------------------------------------------

    def request(self, kind: str, method: str, status: int, seconds: float,
                bytes_in: int, bytes_out: int, policy: object = None) -> None:
        """One answered request of type ``kind`` (account, container, object, ...)."""
        if not self.enabled:
            return
        method = metric_method(method)
        if self.statsd is not None:
            millis = seconds * 1000.0
            with self.statsd.pipeline() as pipe:
                if self.proxy_style:
                    names = [f"{kind}.{method}.{status}"]
                    if policy is not None and kind == "object":
                        names.append(f"{kind}.policy.{policy}.{method}.{status}")
                    for name in names:
                        pipe.timing(f"{name}.timing", millis, self.sample_rate)
                        pipe.incr(f"{name}.xfer", bytes_in + bytes_out, self.sample_rate)
                elif status < 500 or status == 507:
                    pipe.timing(f"{method}.timing", millis, self.sample_rate)
                else:
                    pipe.timing(f"{method}.errors.timing", millis, self.sample_rate)
        if self._prom is not None:
            counts = self._counts
            key: tuple[str, ...] = ("requests", kind, method, str(status),
                                    "" if policy is None else str(policy))
            counts[key] = counts.get(key, 0) + 1
            self._observe(("duration", kind, method), seconds)
            if bytes_in:
                key = ("bytes", kind, "in")
                counts[key] = counts.get(key, 0) + bytes_in
            if bytes_out:
                key = ("bytes", kind, "out")
                counts[key] = counts.get(key, 0) + bytes_out

    def _observe(self, key: tuple[str, ...], seconds: float) -> None:
        entry = self._observed.get(key)
        if entry is None:
            entry = self._observed[key] = [0.0] * (len(BUCKETS) + 1)
        entry[0] += seconds
        entry[1 + bisect_left(BUCKETS, seconds)] += 1

    def increment(self, name: str, count: int = 1) -> None:
        """Count ``count`` occurrences of event ``name`` (statsd ``<server>.<name>``)."""
        if not self.enabled or count < 0:
            return
        if self.statsd is not None:
            self.statsd.incr(name, count, self.sample_rate)
        if self._prom is not None:
            key = ("events", name)
            self._counts[key] = self._counts.get(key, 0) + count

    def timing(self, name: str, seconds: float) -> None:
        """How long event ``name`` took (statsd ``<server>.<name>``, in milliseconds)."""
        if not self.enabled:
            return
        if self.statsd is not None:
            self.statsd.timing(name, seconds * 1000.0, self.sample_rate)
        if self._prom is not None:
            self._observe(("timing", name), seconds)

    def flush(self) -> None:
        """Write the figures added up since the last flush into the shared files."""
        if self._prom is None or self.prometheus_dir is None:
            return
        counts, self._counts = self._counts, {}
        observed, self._observed = self._observed, {}
        with _writing_into(self.prometheus_dir):
            for key, amount in counts.items():
                self._child(*key).inc(amount)
            for key, entry in observed.items():
                # What Histogram.observe does for one value, for many at once: the child
                # keeps its sum and one counter per bucket (the count is their total).
                child = self._child(*key)
                child._sum.inc(entry[0])
                for index, hits in enumerate(entry[1:]):
                    if hits:
                        child._buckets[index].inc(hits)

    # --- Prometheus exposition --------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text page: the figures of every process sharing the directory."""
        if self.prometheus_dir is None:
            return b""
        self.flush()
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.prometheus_dir)  # type: ignore[no-untyped-call]
        page: bytes = generate_latest(registry)
        return page

    def close(self) -> None:
        """Remove the temporary figures directory this process made (at its exit)."""
        if self._owned_dir:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None


def get_metrics(conf: dict[str, Any] | None, server: str) -> Metrics:
    """The :class:`Metrics` of component ``server`` in this process, made on first use.

    ``server`` is the statsd prefix and Prometheus label (``proxy-server``,
    ``object-server``, ``object-replicator``...). Later calls get the same object. Its
    Prometheus figures go to its own ``prometheus_multiproc_dir`` (a temporary directory
    of its own when that is empty), whatever other components of the process use.
    """
    metrics = _instances.get(server)
    if metrics is not None:
        return metrics
    conf = conf or {}
    client = None
    host = str(conf.get("log_statsd_host") or "").strip()
    if host:
        from statsd import StatsClient

        prefix = str(conf.get("log_statsd_metric_prefix") or "").strip(".")
        client = StatsClient(host, conf_int(conf, "log_statsd_port", 8125),
                             prefix=f"{prefix}.{server}" if prefix else server)
    prom_dir = None
    owned = None
    if conf_bool(conf, "prometheus_enabled", False):
        prom_dir = str(conf.get("prometheus_multiproc_dir") or "").strip() or None
        if prom_dir is None:
            prom_dir = owned = tempfile.mkdtemp(prefix=f"oiofs-metrics-{server}-")
        prom_dir = os.path.abspath(prom_dir)
        os.makedirs(prom_dir, exist_ok=True)
    metrics = Metrics(server, client, prom_dir, proxy_style=server.startswith("proxy"),
                      sample_rate=conf_float(conf, "log_statsd_default_sample_rate", 1.0))
    metrics._owned_dir = owned
    _instances[server] = metrics
    return metrics
