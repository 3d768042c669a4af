"""The object auditor: finds object files that went bad on disk and quarantines them.

Bit rot, a torn write after a crash, a file truncated by a failing disk: nothing notices
until someone reads the object. The auditor reads every object file of every device of
its node (all directories under ``devices``, like the server serves them) in two sweeps:

* the **zero-byte-files** (ZBF) sweep looks at metadata only: the attribute is there and
  passes its checksum, the name in it hashes to the directory it is in, the timestamp
  matches the file name, and a ``.data``'s size matches its ``Content-Length``. It is
  cheap and runs first, limited to ``zero_byte_files_per_second``.
* the **full** sweep does the same and reads each ``.data`` whole, comparing each block
  with its stored checksum (:mod:`oiofs.obj.block_checksums`, the very checks a GET makes)
  and its MD5 with the stored ETag, limited to ``files_per_second`` and
  ``bytes_per_second``. A ``.data`` written before block checksums existed gets its list
  here, once its whole data matched its MD5 (the list is appended to the file and fsynced
  before its attribute points at it).

A bad file's hash directory is renamed into quarantine (:mod:`oiofs.obj.quarantine`) and
its suffix invalidated, so the replicator copies a good replica back from a peer. The
auditor only reads and renames: killing it at any moment loses nothing.

Options (section ``[object-auditor]``, ``[DEFAULT]`` merged): ``devices``, ``mount_check``,
``interval`` (30), ``files_per_second`` (20), ``bytes_per_second`` (10485760),
``zero_byte_files_per_second`` (50), ``disk_chunk_size`` (65536).
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field

from oiofs.common.backend_protocol import EC_CONTENT_LENGTH, EC_FRAG_INDEX, EC_SEGMENT_SIZE
from oiofs.common.config import conf_bool, conf_float, conf_int
from oiofs.common.daemon import Daemon
from oiofs.common.ec_segments import SegmentLayout, fragment_problem
from oiofs.common.exceptions import DiskFileCorrupt
from oiofs.common.hashing import hash_path, md5
from oiofs.common.ratelimit import RateLimiter
from oiofs.common.storage_policy import POLICIES, ECPolicy, StoragePolicy
from oiofs.common.timestamp import Timestamp
from oiofs.obj import filenames
from oiofs.obj.block_checksums import (
    BLOCK_SIZE,
    ENTRY_SIZE,
    BlockHasher,
    block_count,
    first_difference,
)
from oiofs.obj.hashes import is_hash, is_suffix
from oiofs.obj.metadata import BlockRef, append_block_list, read_header
from oiofs.obj.quarantine import quarantine_hash_dir

ZBF = "zbf"
FULL = "full"


@dataclass
class ObjectAuditStats:
    """Counters of one sweep."""

    mode: str
    start: float
    files: int = 0
    bytes: int = 0
    quarantined: int = 0
    errors: int = 0
    #: older ``.data`` files given their block checksum list
    checksums_added: int = 0
    end: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        """Seconds the sweep took (so far)."""
        return max((self.end if self.end is not None else self.start) - self.start, 1e-9)

    def summary_line(self, files_limit: float, bytes_limit: float) -> str:
        """The pass summary: files/bytes checked, quarantined, errors, rates achieved."""
        elapsed = self.elapsed
        return (f"object audit pass done ({self.mode}): {self.files} files, {self.bytes} "
                f"bytes checked in {elapsed:.2f}s ({self.files / elapsed:.1f} files/s, "
                f"{self.bytes / elapsed:.0f} bytes/s; limits {files_limit:g} files/s, "
                f"{bytes_limit:g} bytes/s), {self.quarantined} quarantined, "
                f"{self.errors} errors, {self.checksums_added} given block checksums")


class _Bad(Exception):
    """This object file is bad (internal to the auditor)."""


class ObjectAuditor(Daemon):
    """The ``object-auditor`` daemon. ``run_once(mode=...)``: ``"zbf"``, ``"full"`` or both.

    After a pass, :attr:`last_stats` holds one :class:`ObjectAuditStats` per sweep.
    """

    name = "object-auditor"

    def __init__(self, conf: dict, logger=None, clock=time.monotonic, sleep=time.sleep):
        super().__init__(conf, logger)
        self.devices_dir = conf.get("devices", "/srv/node")
        self.mount_check = conf_bool(conf, "mount_check", False)
        self.files_per_second = conf_float(conf, "files_per_second", 20.0)
        self.bytes_per_second = conf_float(conf, "bytes_per_second", 10 * 1024 * 1024)
        self.zbf_files_per_second = conf_float(conf, "zero_byte_files_per_second", 50.0)
        self.chunk_size = conf_int(conf, "disk_chunk_size", 65536, minimum=1)
        self.clock = clock
        self.sleep = sleep
        self.last_stats: list[ObjectAuditStats] = []

    # -- passes ------------------------------------------------------------------------------

    def recon_entries(self, result, began: float, ended: float) -> dict:
        """Swift's ``object_auditor_stats_ALL`` (full sweep) and ``..._ZBF`` of the pass."""
        entries = {}
        for stats in self.last_stats:
            key = "object_auditor_stats_" + ("ZBF" if stats.mode == ZBF else "ALL")
            entries[key] = {"passes": stats.files - stats.quarantined - stats.errors,
                            "errors": stats.errors, "quarantined": stats.quarantined,
                            "bytes_processed": stats.bytes,
                            # the sweep's clock may be monotonic: recon wants wall time
                            "start_time": time.time() - (self.clock() - stats.start),
                            "audit_time": stats.elapsed}
        return entries

    def run_once(self, mode: str | None = None, devices=None, **kwargs) -> None:
        """A ZBF sweep then a full sweep (or only ``mode``) over every local device."""
        if isinstance(devices, str):
            devices = [d for d in devices.split(",") if d]
        self.last_stats = [self.sweep(m, devices) for m in ([mode] if mode else [ZBF, FULL])]

    def sweep(self, mode: str, devices=None) -> ObjectAuditStats:
        """Audit every object file once in ``mode``; logs and returns the summary."""
        if mode not in (ZBF, FULL):
            raise ValueError(f"unknown audit mode {mode!r}")
        stats = ObjectAuditStats(mode, self.clock())
        files_rate = self.zbf_files_per_second if mode == ZBF else self.files_per_second
        file_limiter = RateLimiter(files_rate, self.clock, self.sleep)
        byte_limiter = RateLimiter(self.bytes_per_second if mode == FULL else 0,
                                   self.clock, self.sleep)
        for device_path, policy, hash_dir in self._locations(devices):
            if self.stopping:
                break
            self.audit_hash_dir(device_path, policy, hash_dir, mode, stats, file_limiter,
                                byte_limiter)
        stats.end = self.clock()
        self.logger.info("%s", stats.summary_line(
            files_rate, self.bytes_per_second if mode == FULL else 0))
        return stats

    def _locations(self, devices=None):
        """``(device path, policy, hash dir)`` of every object, device by device."""
        try:
            names = sorted(os.listdir(self.devices_dir))
        except FileNotFoundError:
            self.logger.error("object audit: no devices directory %s", self.devices_dir)
            return
        policies = {policy.get_diskfile_dir("objects"): policy for policy in POLICIES}
        for device in names:
            if devices and device not in devices:
                continue
            device_path = os.path.join(self.devices_dir, device)
            if self.mount_check and not os.path.ismount(device_path):
                self.logger.warning("object audit skips %s: not mounted", device_path)
                continue
            for dir_name, policy in policies.items():
                objects = os.path.join(device_path, dir_name)
                for part in _listdir(objects):
                    if not part.isdigit():
                        continue
                    part_dir = os.path.join(objects, part)
                    for suffix in _listdir(part_dir):
                        if not is_suffix(suffix):
                            continue
                        suffix_dir = os.path.join(part_dir, suffix)
                        for name_hash in _listdir(suffix_dir):
                            if is_hash(name_hash):
                                yield device_path, policy, os.path.join(suffix_dir, name_hash)

    # -- one object --------------------------------------------------------------------------

    def audit_hash_dir(self, device_path: str, policy: StoragePolicy, hash_dir: str,
                       mode: str, stats: ObjectAuditStats, file_limiter: RateLimiter,
                       byte_limiter: RateLimiter) -> None:
        """Check the files that describe one object; quarantine the directory if bad."""
        files = filenames.select_files(_listdir(hash_dir))
        for name in (files.data, files.tombstone, files.meta):
            if not name:
                continue
            path = os.path.join(hash_dir, name)
            try:
                checked = self._audit_file(path, name, os.path.basename(hash_dir), mode,
                                           byte_limiter, policy, stats)
            except FileNotFoundError:
                continue  # replaced by a newer write meanwhile: nothing to judge
            except _Bad as bad:
                self._quarantine(device_path, policy, hash_dir, name, str(bad), stats)
                return
            except OSError as err:
                stats.errors += 1
                self.logger.error("object audit cannot check %s: %s", path, err)
                if err.errno == errno.EIO:  # the disk cannot read it: as good as bad
                    self._quarantine(device_path, policy, hash_dir, name, str(err), stats)
                    return
                continue
            stats.files += 1
            stats.bytes += checked
            file_limiter.wait(1)

    def _audit_file(self, path: str, name: str, name_hash: str, mode: str,
                    byte_limiter: RateLimiter, policy: StoragePolicy | None = None,
                    stats: ObjectAuditStats | None = None) -> int:
        """Check one file; the data bytes read. Raises :class:`_Bad` if it is bad."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                metadata, data_length, blocks = read_header(fd)
            except DiskFileCorrupt as err:
                raise _Bad(str(err)) from None
            object_name = metadata.get("name", "")
            parts = object_name[1:].split("/", 2) if object_name.startswith("/") else []
            if len(parts) != 3 or hash_path(*parts) != name_hash:
                raise _Bad(f"name {object_name!r} does not belong in {name_hash}")
            try:
                stamp = Timestamp(metadata.get("X-Timestamp")).internal
            except (ValueError, TypeError):
                raise _Bad("no valid X-Timestamp") from None
            if filenames.timestamp_of(name) != stamp:
                raise _Bad(f"X-Timestamp {stamp} does not match the file name")
            if not name.endswith(filenames.DATA):
                return 0
            if data_length is None:
                data_length = os.fstat(fd).st_size
            if metadata.get("Content-Length") != str(data_length):
                raise _Bad(f"data is {data_length} bytes, metadata says "
                           f"{metadata.get('Content-Length')}")
            etag = metadata.get("ETag")
            if not etag:
                raise _Bad("no ETag")
            if mode == ZBF:
                return 0
            hasher = BlockHasher(blocks.block_size if blocks else BLOCK_SIZE)
            checked = self._check_data(fd, data_length, etag, byte_limiter,
                                       self._fragments(policy, name, metadata, data_length),
                                       hasher, blocks)
            if blocks is None and stats is not None and \
                    self._add_block_list(path, fd, hasher.packed(), data_length):
                stats.checksums_added += 1
            return checked
        finally:
            os.close(fd)

    def _add_block_list(self, path: str, fd: int, packed: bytes, data_length: int) -> bool:
        """Give the older ``.data`` open as ``fd`` (its data just checked) its block
        checksum list; ``False`` if it cannot (replaced meanwhile, no room: it stays
        readable as it was)."""
        try:
            rw_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            before, now = os.fstat(fd), os.fstat(rw_fd)
            if (before.st_dev, before.st_ino) != (now.st_dev, now.st_ino):
                return False  # a newer write took the name: not the file just checked
            append_block_list(rw_fd, packed, BLOCK_SIZE, data_length)
            return True
        except (OSError, DiskFileCorrupt) as err:
            self.logger.warning("object audit cannot add block checksums to %s: %s",
                                path, err)
            return False
        finally:
            os.close(rw_fd)

    @staticmethod
    def _fragments(policy: StoragePolicy | None, name: str, metadata: dict[str, str],
                   length: int) -> tuple[ECPolicy, SegmentLayout, int] | None:
        """For a durable fragment archive: its policy, segment layout and fragment index
        (``_Bad`` if its metadata cannot describe it); ``None`` for other files."""
        parsed = filenames.parse_filename(name)
        if not isinstance(policy, ECPolicy) or parsed is None or not parsed.durable or \
                parsed.frag_index is None:
            return None
        try:
            index = int(metadata[EC_FRAG_INDEX])
            layout = SegmentLayout.of(policy.driver, int(metadata[EC_CONTENT_LENGTH]),
                                      int(metadata[EC_SEGMENT_SIZE]))
        except (KeyError, ValueError) as err:
            raise _Bad(f"fragment archive metadata: {err!r}") from None
        if index != parsed.frag_index or layout.archive_length != length:
            raise _Bad(f"fragment archive of {length} bytes, index {parsed.frag_index}: "
                       f"metadata says {layout.archive_length} bytes, index {index}")
        return policy, layout, index

    def _check_data(self, fd: int, length: int, etag: str, byte_limiter: RateLimiter,
                    fragments: tuple[ECPolicy, SegmentLayout, int] | None = None,
                    block_hasher: BlockHasher | None = None,
                    blocks: BlockRef | None = None) -> int:
        """MD5 of the data against ``etag``, each block against the stored list of
        ``blocks`` (``block_hasher`` computes it again, also for a file that has none); for a
        fragment archive also each fragment's pyeclib checksum and index (read one
        fragment at a time)."""
        blocks_hasher = block_hasher if block_hasher is not None else BlockHasher()
        hasher = md5()
        offset = 0
        segment = 0
        while offset < length:
            size = self.chunk_size if fragments is None else \
                fragments[1].fragment_len(segment)
            chunk = os.pread(fd, min(size, length - offset), offset)
            if not chunk:
                raise _Bad(f"data ends at {offset} of {length} bytes")
            if fragments is not None:
                _check_fragment(fragments[0], chunk, fragments[2], segment)
                segment += 1
            hasher.update(chunk)
            blocks_hasher.update(chunk)
            offset += len(chunk)
            byte_limiter.wait(len(chunk))
        # large files: leave the page cache to objects that are actually read
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        if blocks is not None:
            stored = os.pread(fd, block_count(length, blocks.block_size) * ENTRY_SIZE,
                              blocks.offset)
            bad = first_difference(stored, blocks_hasher.packed())
            if bad is not None:
                raise _Bad(f"block {bad} does not match its checksum")
        if hasher.hexdigest() != etag.lower():
            raise _Bad(f"MD5 {hasher.hexdigest()} does not match ETag {etag}")
        return offset

    def _quarantine(self, device_path: str, policy: StoragePolicy, hash_dir: str, name: str,
                    reason: str, stats: ObjectAuditStats) -> None:
        # Judge only what is still there: if a newer write replaced the file meanwhile,
        # the directory now holds a good object and must stay.
        if name not in _listdir(hash_dir):
            return
        where = quarantine_hash_dir(device_path, hash_dir, policy)
        if where is None:
            return
        stats.quarantined += 1
        stats.problems.append(f"{hash_dir}/{name}: {reason}")
        self.logger.error("object audit quarantined %s/%s to %s: %s", hash_dir, name, where,
                          reason)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _check_fragment(policy: ECPolicy, fragment: bytes, index: int, segment: int) -> None:
    """``_Bad`` unless ``fragment`` is a pyeclib fragment of index ``index`` whose checksum
    matches its bytes."""
    problem = fragment_problem(policy.driver, fragment, index)
    if problem:
        raise _Bad(f"segment {segment}: {problem}")
