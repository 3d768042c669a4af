"""``object-updater``: delivers the container updates object servers could not.

When an object server cannot tell a container replica about a PUT or DELETE (or about a
row of the expiry queue), it keeps the update as an *async pending*
(:mod:`oiofs.obj.async_pending`): ``<devices>/<dev>/async_pending[-N]/<suffix>/<hash>-<ts>``.
Each pass of the updater walks every device directory under ``devices`` and, for each
pending:

* sends the update (``PUT``/``DELETE /<dev>/<part>/<a>/<c>/<o>`` with the stored headers)
  to every primary of the container in the container ring (the ring of now, not of the
  time of the write: replicas may have moved since);
* unlinks the pending once every primary accepted it (2xx). Until then, the primaries
  that did are recorded in the file (``"successes"``: ring device ids; the file is
  rewritten atomically), so the next pass only sends to the others;
* of several pendings for the same name (same hash), only the newest matters: a container
  keeps the newest row by timestamp, so older ones are unlinked unsent;
* a file that is not a valid pending goes to ``<dev>/quarantined/async_pending[-N]/``;
* temporary files older than an hour (a writer was killed) are unlinked, and suffix
  directories left empty are removed (the object server makes them again if it
  races with that, see :func:`oiofs.obj.async_pending.write_async_pending`).

Killing the updater at any moment loses nothing: a pending is only unlinked after every
replica accepted it, and replaying an update a replica already has changes nothing.

Options (``[object-updater]``, with ``[DEFAULT]``): ``devices``, ``mount_check``,
``oiofs_dir`` (the container ring), ``interval`` (300 s), ``concurrency`` (8 pendings at
once), ``objects_per_second`` (50; 0 no limit), ``slowdown`` (0 s slept after each
pending, an older and blunter limit), ``conn_timeout`` (0.5 s), ``node_timeout`` (10 s).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from dataclasses import dataclass

from oiofs.common import runtime
from oiofs.common.config import conf_bool, conf_float, conf_int, oiofs_dir
from oiofs.common.daemon import Daemon, PassStats
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.exceptions import ClientException, ConnectionTimeout, NodeTimeout
from oiofs.common.fsutils import mkdirs_durable, write_file_atomic
from oiofs.common.logger import node_key
from oiofs.common.ratelimit import RateLimiter
from oiofs.common.ring import Ring
from oiofs.common.storage_policy import POLICIES, StoragePolicy
from oiofs.obj.async_pending import ASYNC_DIR, read_async_pending
from oiofs.obj.hashes import is_hash, is_suffix
from oiofs.obj.quarantine import QUARANTINE_DIR

OPS = ("PUT", "DELETE")
#: seconds after which a temporary file in a suffix directory is surely abandoned
STALE_TMP_AGE = 3600.0


@dataclass
class ObjectUpdaterStats(PassStats):
    """What one pass did (``unlinked`` counts delivered and obsolete pendings)."""

    found: int = 0
    successes: int = 0
    failures: int = 0
    unlinked: int = 0
    obsolete: int = 0
    quarantined: int = 0


def split_pending_name(name: str) -> tuple[str, str] | None:
    """``(hash, timestamp)`` of a pending's file name; ``None`` for other files
    (temporary files start with a dot)."""
    name_hash, dash, stamp = name.partition("-")
    if not dash or not is_hash(name_hash) or not stamp or not stamp[:1].isdigit():
        return None
    return name_hash, stamp


def newest_first(names: list[str]) -> list[tuple[str, bool]]:
    """``(name, obsolete)`` for the pendings among ``names``, newest first per hash; a
    pending is obsolete when a newer one for the same hash exists.

    >>> h = "a" * 32
    >>> newest_first([f"{h}-0000000001.00000", f"{h}-0000000002.00000", ".tmp"])
    [('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-0000000002.00000', False), \
('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-0000000001.00000', True)]
    """
    result = []
    last_hash = None
    # timestamps are fixed width and an offset only lengthens a name: text order is time
    for name in sorted(names, reverse=True):
        parts = split_pending_name(name)
        if parts is None:
            continue
        result.append((name, parts[0] == last_hash))
        last_hash = parts[0]
    return result


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


class ObjectUpdater(Daemon):
    """Replays async pendings to the container servers; see the module docstring."""

    name = "object-updater"

    def __init__(self, conf: dict, logger=None, container_ring: Ring | None = None,
                 clock=time.monotonic, sleep=time.sleep):
        super().__init__(conf, logger)
        self.interval = conf_float(conf, "interval", 300.0)
        self.devices = conf.get("devices", "/srv/node")
        self.mount_check = conf_bool(conf, "mount_check", False)
        self.concurrency = conf_int(conf, "concurrency", 8, minimum=1)
        self.objects_per_second = conf_float(conf, "objects_per_second", 50.0)
        self.slowdown = conf_float(conf, "slowdown", 0.0)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 10.0)
        self.container_ring = container_ring or Ring(oiofs_dir(conf), ring_name="container")
        self.clock = clock
        self.sleep = sleep
        self.stats = ObjectUpdaterStats()

    # -- a pass ----------------------------------------------------------------------------

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's ``object_updater_sweep``, the counters, and the pendings left
        (``async_pending``, which Swift's recon cron job counts; here the updater does)."""
        left = sum(1 for _dev, _policy, async_path in self._async_dirs()
                   for suffix in _listdir(async_path) if is_suffix(suffix)
                   for name in _listdir(os.path.join(async_path, suffix))
                   if split_pending_name(name))
        return {"object_updater_sweep": ended - began, "object_updater_stats":
                result.counters(), "async_pending": left, "async_pending_last": ended}

    def run_once(self, **kwargs) -> ObjectUpdaterStats:
        """Replay every pending of every device once; the pass's counters (also logged)."""
        self.stats = stats = ObjectUpdaterStats()
        limiter = RateLimiter(self.objects_per_second, self.clock, self.sleep)
        pool = runtime.GreenPool(self.concurrency)
        for device_path, policy, async_path in self._async_dirs():
            suffixes = [s for s in _listdir(async_path) if is_suffix(s)]
            for suffix in suffixes:
                suffix_dir = os.path.join(async_path, suffix)
                names = _listdir(suffix_dir)
                self._remove_stale_tmp(suffix_dir, names)
                for name, obsolete in newest_first(names):
                    if self.stopping:
                        break
                    stats.found += 1
                    path = os.path.join(suffix_dir, name)
                    if obsolete:
                        self._unlink(path, obsolete=True)
                        continue
                    limiter.wait()
                    pool.spawn_n(self._process_logged, device_path, policy, path)
                    if self.slowdown > 0:
                        self.sleep(self.slowdown)
            pool.waitall()
            for suffix in suffixes:
                self._remove_if_empty(os.path.join(async_path, suffix))
        pool.waitall()
        self.logger.info("%s pass: %s", self.name, stats.summary())
        return stats

    def _async_dirs(self):
        """``(device path, policy, async pending dir)`` of every device and policy."""
        names = sorted(_listdir(self.devices))
        dirs = {policy.get_diskfile_dir(ASYNC_DIR): policy for policy in POLICIES}
        for device in names:
            device_path = os.path.join(self.devices, device)
            if not os.path.isdir(device_path):
                continue
            if self.mount_check and not os.path.ismount(device_path):
                self.logger.warning("%s skips %s: not mounted", self.name, device_path)
                continue
            for entry in _listdir(device_path):
                if not entry.startswith(ASYNC_DIR):
                    continue
                policy = dirs.get(entry)
                if policy is None:
                    self.logger.warning("%s skips %s: no such storage policy", self.name,
                                        os.path.join(device_path, entry))
                    continue
                yield device_path, policy, os.path.join(device_path, entry)

    def _remove_stale_tmp(self, suffix_dir: str, names: list[str]) -> None:
        """Unlink temporary files an object server killed mid-write left behind (they
        would keep their suffix directory forever); recent ones may still be in use."""
        now = time.time()
        for name in names:
            if not name.startswith("."):
                continue
            path = os.path.join(suffix_dir, name)
            try:
                if now - os.stat(path).st_mtime > STALE_TMP_AGE:
                    os.unlink(path)
            except FileNotFoundError:
                continue

    def _remove_if_empty(self, suffix_dir: str) -> None:
        try:
            os.rmdir(suffix_dir)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                self.logger.warning("cannot remove %s: %s", suffix_dir, err)

    def _unlink(self, path: str, obsolete: bool = False) -> None:
        # no directory fsync: if a crash brings the file back, replaying it is harmless
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        self.stats.unlinked += 1
        if obsolete:
            self.stats.obsolete += 1

    # -- one pending -----------------------------------------------------------------------

    def _process_logged(self, device_path: str, policy: StoragePolicy, path: str) -> None:
        try:
            self.process_pending(device_path, policy, path)
        except Exception:  # one bad pending must not end the pass
            self.stats.failures += 1
            self.logger.exception("%s: cannot process %s", self.name, path)

    def process_pending(self, device_path: str, policy: StoragePolicy, path: str) -> bool:
        """Send one pending to the container primaries that lack it; True once it is
        delivered everywhere and unlinked."""
        try:
            update = read_async_pending(path)
            op = update["op"]
            headers = update["headers"]
            successes = update.get("successes", [])
            if op not in OPS or not isinstance(headers, dict) or \
                    not isinstance(successes, list):
                raise ValueError(f"{path}: bad op, headers or successes")
        except FileNotFoundError:
            return False  # delivered by another pass meanwhile, or superseded
        except (ValueError, UnicodeDecodeError) as err:
            self._quarantine(device_path, path, err)
            return False
        part, nodes = self.container_ring.get_nodes(update["account"], update["container"])
        done = {str(s) for s in successes}
        todo = [node for node in nodes if str(node["id"]) not in done]
        pile = runtime.GreenPile(max(len(todo), 1))
        for node in todo:
            pile.spawn(self._send, node, op, backend_path(
                node["device"], part, update["account"], update["container"], update["obj"]),
                headers)
        accepted = [str(node["id"]) for node, ok in zip(todo, pile, strict=True) if ok]
        if len(accepted) == len(todo):
            self._unlink(path)
            self.stats.successes += 1
            return True
        self.stats.failures += 1
        if accepted:
            update["successes"] = sorted(done | set(accepted))
            try:
                # atomic: a reader sees the old or the new list, both of them correct
                write_file_atomic(path, json.dumps(update, ensure_ascii=False).encode())
            except OSError as err:
                self.logger.warning("cannot record successes in %s: %s", path, err)
        return False

    def _send(self, node: dict, op: str, path: str, headers: dict) -> bool:
        try:
            resp = direct_request(node["ip"], node["port"], op, path, headers=headers,
                                  conn_timeout=self.conn_timeout,
                                  response_timeout=self.node_timeout)
        except (ConnectionTimeout, NodeTimeout, ClientException) as err:
            self.repeats.log(self.logger, logging.WARNING, node_key(node),
                             "update %s %s:%s%s failed: %s", op, node["ip"], node["port"],
                             path, err)
            return False
        if 200 <= resp.status < 300:
            return True
        self.repeats.log(self.logger, logging.WARNING, node_key(node),
                         "update %s %s:%s%s answered %s", op, node["ip"], node["port"],
                         path, resp.status)
        return False

    def _quarantine(self, device_path: str, path: str, err: Exception) -> None:
        """Move an unreadable pending aside (kept for an operator, never replayed)."""
        target_dir = os.path.join(device_path, QUARANTINE_DIR,
                                  os.path.basename(os.path.dirname(os.path.dirname(path))))
        mkdirs_durable(target_dir, stop_at=device_path)
        try:
            os.rename(path, os.path.join(target_dir, os.path.basename(path)))
        except FileNotFoundError:
            return
        self.stats.quarantined += 1
        self.logger.error("%s: quarantined %s: %s", self.name, path, err)
