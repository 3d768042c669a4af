"""``GET /recon/<what>``: what a storage node knows about itself, as JSON (Swift's recon).

A filter in front of the account, container and object servers (``pipeline = recon
object-server``; ``egg:oiofs#recon``). Every other request goes on to the server. The
answers are facts read at request time (load, memory, disks, rings, quarantine) or the last
pass stats the node's daemons left in the recon cache (:mod:`oiofs.common.recon_cache`):

==========================  ============================================================
``mem``                     ``/proc/meminfo`` as ``{"MemTotal": "16318372 kB", ...}``
``load``                    ``{"1m", "5m", "15m", "tasks", "processes"}``
``async``                   ``{"async_pending", "async_pending_last"}`` (object updater)
``replication/<type>``      ``replication_time``/``_stats``/``_last`` (object: also
                            ``object_replication_time``/``_last``); no type is ``object``
``reconstruction/object``   ``object_reconstruction_time``/``_stats``/``_last`` (the
                            object reconstructor); no type is ``object``
``auditor/<type>``          account, container: ``<type>_audits_passed``/``_failed``/
                            ``_since``, ``<type>_auditor_pass_completed``; object:
                            ``object_auditor_stats_ALL`` and ``_ZBF``
``updater/<type>``          ``container_updater_sweep`` or ``object_updater_sweep``
``expirer/object``          ``object_expiration_pass``, ``expired_last_pass``
``devices``                 ``{devices_dir: [device names]}``
``mounted``, ``unmounted``  mounted file systems; devices that are not mounted
``diskusage``               ``[{"device", "mounted", "size", "used", "avail"}]``
``ringmd5``                 ``{ring file path: md5 of its bytes}``
``swiftconfmd5``            ``{path of oiofs.conf: md5}``
``quarantined``             ``{"objects", "containers", "accounts", "policies":
                            {"<index>": {"objects"}}}``
``sockstat``                TCP sockets in use, orphaned, in TIME_WAIT, TCP memory
``version``, ``time``       ``{"version": "..."}``; the node's clock (``time.time()``)
==========================  ============================================================

A cache key no daemon wrote yet is ``null``, as in Swift. With ``mount_check = false``
(devices are plain directories, as in the all-in-one) every device directory counts as
mounted. Unknown paths answer 404, other verbs than GET and HEAD 405.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import oiofs
from oiofs.common.config import conf_bool, oiofs_dir
from oiofs.common.hashing import md5
from oiofs.common.recon_cache import load_recon_cache, recon_cache_file

SERVER_TYPES = ("account", "container", "object")

#: keys each cache answer is made of, by (what, server type)
CACHE_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("async", "object"): ("async_pending", "async_pending_last"),
    ("replication", "account"): ("replication_time", "replication_stats", "replication_last"),
    ("replication", "container"): ("replication_time", "replication_stats",
                                   "replication_last"),
    ("replication", "object"): ("replication_time", "replication_stats", "replication_last",
                                "object_replication_time", "object_replication_last"),
    ("reconstruction", "object"): ("object_reconstruction_time",
                                   "object_reconstruction_stats",
                                   "object_reconstruction_last"),
    ("auditor", "account"): ("account_audits_passed", "account_auditor_pass_completed",
                             "account_audits_since", "account_audits_failed"),
    ("auditor", "container"): ("container_audits_passed", "container_auditor_pass_completed",
                               "container_audits_since", "container_audits_failed"),
    ("auditor", "object"): ("object_auditor_stats_ALL", "object_auditor_stats_ZBF"),
    ("updater", "container"): ("container_updater_sweep",),
    ("updater", "object"): ("object_updater_sweep",),
    ("expirer", "object"): ("object_expiration_pass", "expired_last_pass"),
}


class ReconNotFound(Exception):
    """No such recon path (answers 404)."""


def read_meminfo(path: str = "/proc/meminfo") -> dict[str, str]:
    """``/proc/meminfo`` as ``{name: "value unit"}``."""
    info = {}
    with open(path, encoding="ascii", errors="replace") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if value:
                info[name.strip()] = value.strip()
    return info


def read_load(path: str = "/proc/loadavg") -> dict[str, Any]:
    """Load averages, ``tasks`` (``running/total``) and the last pid (``processes``)."""
    with open(path, encoding="ascii") as handle:
        one, five, fifteen, tasks, last_pid = handle.read().split()[:5]
    return {"1m": float(one), "5m": float(five), "15m": float(fifteen), "tasks": tasks,
            "processes": int(last_pid)}


def read_sockstat(path: str = "/proc/net/sockstat") -> dict[str, int]:
    """TCP figures of ``/proc/net/sockstat`` (memory in bytes, as Swift gives it)."""
    result: dict[str, int] = {}
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if not line.startswith("TCP:"):
                continue
            fields = line.split()[1:]
            values = dict(zip(fields[::2], fields[1::2], strict=False))
            result["tcp_in_use"] = int(values.get("inuse", 0))
            result["orphan"] = int(values.get("orphan", 0))
            result["time_wait"] = int(values.get("tw", 0))
            result["tcp_mem_allocated_bytes"] = int(values.get("mem", 0)) * os.sysconf(
                "SC_PAGE_SIZE")
    return result


def file_md5(path: str) -> str:
    """Hex MD5 of a file's bytes, read in chunks."""
    digest = md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ring_md5s(conf_dir: str) -> dict[str, str]:
    """``{ring file path: md5}`` of every ``*.ring.gz`` in ``conf_dir``."""
    try:
        names = sorted(os.listdir(conf_dir))
    except OSError:
        return {}
    result = {}
    for name in names:
        if name.endswith(".ring.gz"):
            path = os.path.join(conf_dir, name)
            try:
                result[path] = file_md5(path)
            except OSError:
                continue  # replaced while we looked: the next ask sees the new one
    return result


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


class ReconApp:
    """The answers of ``/recon``; :class:`ReconMiddleware` puts them in front of a server."""

    def __init__(self, conf: Mapping[str, Any]):
        self.devices = str(conf.get("devices", "/srv/node"))
        self.mount_check = conf_bool(conf, "mount_check", False)
        self.conf_dir = oiofs_dir(conf)
        self.caches = {t: recon_cache_file(conf, t) for t in SERVER_TYPES}
        self.answers: dict[str, Callable[[str | None], Any]] = {
            "mem": lambda _: read_meminfo(),
            "load": lambda _: read_load(),
            "async": lambda _: self.from_cache("async", "object"),
            "replication": lambda kind: self.from_cache("replication", kind or "object"),
            "reconstruction": lambda kind: self.from_cache("reconstruction",
                                                           kind or "object"),
            "auditor": lambda kind: self.from_cache("auditor", kind or ""),
            "updater": lambda kind: self.from_cache("updater", kind or ""),
            "expirer": lambda kind: self.from_cache("expirer", kind or ""),
            "devices": lambda _: {self.devices: _listdir(self.devices)},
            "mounted": lambda _: self.mounted(),
            "unmounted": lambda _: self.unmounted(),
            "diskusage": lambda _: self.disk_usage(),
            "ringmd5": lambda _: ring_md5s(self.conf_dir),
            "swiftconfmd5": lambda _: self.conf_md5(),
            "quarantined": lambda _: self.quarantined(),
            "sockstat": lambda _: read_sockstat(),
            "version": lambda _: {"version": oiofs.__version__},
            "time": lambda _: time.time(),
        }

    def answer(self, what: str, kind: str | None = None) -> Any:
        """The JSON-able answer for ``/recon/<what>[/<kind>]``; ``ReconNotFound`` if none."""
        handler = self.answers.get(what)
        if handler is None:
            raise ReconNotFound(what)
        return handler(kind)

    def from_cache(self, what: str, server_type: str) -> dict[str, Any]:
        """The keys of ``what`` in ``server_type``'s cache file (``None`` if not written)."""
        keys = CACHE_KEYS.get((what, server_type))
        if keys is None:
            raise ReconNotFound(f"{what}/{server_type}")
        cached = load_recon_cache(self.caches[server_type])
        return {key: cached.get(key) for key in keys}

    def _device_mounted(self, name: str) -> bool:
        path = os.path.join(self.devices, name)
        return os.path.ismount(path) if self.mount_check else os.path.isdir(path)

    def mounted(self) -> list[dict[str, str]]:
        """The mounted file systems (``/proc/mounts``) as ``[{"device", "path"}]``."""
        result = []
        with open("/proc/mounts", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2:
                    result.append({"device": fields[0], "path": fields[1]})
        return result

    def unmounted(self) -> list[dict[str, Any]]:
        """Devices of ``devices`` that are not mounted (``mounted`` is ``False``)."""
        return [{"device": name, "mounted": False} for name in _listdir(self.devices)
                if not self._device_mounted(name)]

    def disk_usage(self) -> list[dict[str, Any]]:
        """Size, used and available bytes of every device (``mounted`` False: no sizes)."""
        result: list[dict[str, Any]] = []
        for name in _listdir(self.devices):
            if not self._device_mounted(name):
                result.append({"device": name, "mounted": False, "size": "", "used": "",
                               "avail": ""})
                continue
            stat = os.statvfs(os.path.join(self.devices, name))
            size = stat.f_blocks * stat.f_frsize
            avail = stat.f_bavail * stat.f_frsize
            result.append({"device": name, "mounted": True, "size": size,
                           "used": size - stat.f_bfree * stat.f_frsize, "avail": avail})
        return result

    def conf_md5(self) -> dict[str, str]:
        """``{path of oiofs.conf: md5}`` (empty if it is missing)."""
        path = os.path.join(self.conf_dir, "oiofs.conf")
        try:
            return {path: file_md5(path)}
        except OSError:
            return {}

    def quarantined(self) -> dict[str, Any]:
        """How many items each device's ``quarantined/`` holds, summed over devices."""
        counts: dict[str, Any] = {"objects": 0, "containers": 0, "accounts": 0,
                                  "policies": {}}
        for device in _listdir(self.devices):
            base = os.path.join(self.devices, device, "quarantined")
            for kind in _listdir(base):
                found = len(_listdir(os.path.join(base, kind)))
                if kind in ("containers", "accounts"):
                    counts[kind] += found
                elif kind == "objects" or kind.startswith("objects-"):
                    index = kind.partition("-")[2] or "0"
                    counts["objects"] += found
                    policy = counts["policies"].setdefault(index, {"objects": 0})
                    policy["objects"] += found
        return counts


def _respond(start_response: StartResponse, status: str, body: bytes, content_type: str,
             head: bool) -> Iterable[bytes]:
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body)))])
    return [] if head else [body]


class ReconMiddleware:
    """Answers ``/recon/...`` itself (see the module docstring) and passes the rest on."""

    def __init__(self, app: WSGIApplication, conf: Mapping[str, Any]):
        self.app = app
        self.recon = ReconApp(conf)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/recon/"):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Length", "0")])
            return []
        parts = path.split("/")[2:]
        if not 1 <= len(parts) <= 2 or not parts[0]:
            return _respond(start_response, "404 Not Found", b"Invalid path: " +
                            path.encode("utf-8", "replace"), "text/plain", head)
        try:
            answer = self.recon.answer(parts[0], parts[1] if len(parts) == 2 else None)
        except ReconNotFound:
            return _respond(start_response, "404 Not Found", b"Invalid path: " +
                            path.encode("utf-8", "replace"), "text/plain", head)
        except OSError as err:
            return _respond(start_response, "500 Internal Server Error",
                            f"recon: {err.strerror or err}".encode(), "text/plain", head)
        return _respond(start_response, "200 OK", json.dumps(answer).encode("utf-8"),
                        "application/json", head)


def filter_factory(global_conf: dict[str, Any],
                   **local_conf: Any) -> Callable[[WSGIApplication], ReconMiddleware]:
    """PasteDeploy entry point ``egg:oiofs#recon``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: ReconMiddleware(app, conf)
