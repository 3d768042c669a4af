"""The object-file API: how the object server stores, reads and deletes objects on disk.

This module is the seam between the object server and its storage. An alternative backend
provides the same four classes with the same promises; the server uses nothing else.

``DiskFileManager(conf, logger)``
    One per server. ``get_diskfile(device, partition, account, container, obj, policy)``
    returns a :class:`DiskFile` (no I/O). Also ``check_xattr_support()`` (at start),
    ``device_path(device)`` and ``write_async_pending(...)``.

``DiskFile``
    One object name. ``open(current_time=None, replication=False)`` reads the metadata
    (raising :class:`DiskFileNotExist`, :class:`DiskFileDeleted`, :class:`DiskFileExpired`,
    :class:`DiskFileQuarantined` or :class:`DiskFileCollision`) and keeps the data open until
    ``close()`` or until a ``reader()`` takes it. After ``open``: ``metadata`` (data file
    metadata overlaid with the newest ``.meta``), ``data_timestamp``, ``timestamp`` (newest),
    ``content_length``. ``ondisk()`` gives the chosen files without opening them (for write
    conflict checks). ``create(size)`` returns a :class:`DiskFileWriter`;
    ``write_metadata(metadata)`` stores a ``.meta`` (POST); ``delete(timestamp)`` stores a
    tombstone; ``commit(timestamp, frag_index, footers)`` makes a fragment archive durable
    (erasure coding, ``docs/erasure-coding.md``).

``DiskFileWriter`` (:mod:`oiofs.obj.diskfile_writer`)
    ``write(chunk)`` appends body bytes to a temporary file; ``put(metadata)`` makes the
    object durable and visible (see below); leaving the ``with`` block without ``put``
    removes the temporary file. Nothing is visible under the object's name before ``put``.

``DiskFileReader`` (:mod:`oiofs.obj.diskfile_reader`)
    The body of a GET: a WSGI response iterable over the whole data, or over what
    ``set_range(start, stop)``/``set_ranges(layout)`` chose; ``close()`` releases the file.
    Each block of data is checked against its stored checksum before any of it is given
    out (:mod:`oiofs.obj.block_checksums`, option ``verify_block_checksums``): a bad one
    quarantines the object at once and ends the body there with
    :class:`DiskFileQuarantined`; ``check_first(offset)`` does it for the first block
    before the response starts.

The durability sequence of ``put`` (files: :mod:`oiofs.obj.filenames`, metadata encoding:
:mod:`oiofs.obj.metadata`): write body and metadata to ``<device>/tmp/<random>``, fsync
the file, rename it to ``<hash dir>/<timestamp>.<ext>`` (creating missing directories),
fsync the hash directory and the parent of every directory created; only then is the write
durable. Before ``put`` returns, the suffix is marked changed (:mod:`oiofs.obj.hashes`) and
obsolete older files are unlinked.
"""

from __future__ import annotations

import errno
import os
import time
from typing import NoReturn

from oiofs.common.config import conf_bool, conf_int
from oiofs.common.exceptions import (
    ConfigError,
    DiskFileCollision,
    DiskFileCorrupt,
    DiskFileDeleted,
    DiskFileDeviceUnavailable,
    DiskFileExpired,
    DiskFileNoSpace,
    DiskFileNotExist,
    DiskFileQuarantined,
    DiskFileXattrNotSupported,
)
from oiofs.common.fsutils import fsync_dir
from oiofs.common.hashing import hash_path
from oiofs.common.real_threads import run_in_thread
from oiofs.common.storage_policy import StoragePolicy
from oiofs.common.timestamp import Timestamp
from oiofs.obj import async_pending, filenames
from oiofs.obj.block_checksums import BlockVerifier
from oiofs.obj.diskfile_reader import DiskFileReader
from oiofs.obj.diskfile_writer import DiskFileWriter
from oiofs.obj.hashes import invalidate_hash
from oiofs.obj.metadata import (
    BlockRef,
    read_header,
    read_metadata,
    write_metadata,
)
from oiofs.obj.quarantine import quarantine_hash_dir

# What a .meta (POST) replaces: on read, these keys of the .data are dropped when a .meta
# applies, and the .meta's are laid over what remains.
POST_KEY_PREFIXES = ("x-object-meta-", "x-object-transient-sysmeta-")


def _post_replaceable(key: str, post_keys: frozenset[str]) -> bool:
    lower = key.lower()
    return lower.startswith(POST_KEY_PREFIXES) or lower in post_keys


class DiskFileManager:
    """Maps object names to :class:`DiskFile` objects on the devices of this server.

    Options read from ``conf``: ``devices`` (``/srv/node``), ``mount_check`` (false),
    ``disk_chunk_size`` (65536), ``keep_cache_size`` (5 MiB: larger objects are evicted
    from the page cache as they are read or written), ``fallocate_reserve`` (0: bytes, or a
    percentage like ``1%``, that must stay free after a PUT), ``fsync_in_threads`` (true:
    fsync, rename and directory updates of a write run in a real thread so that other
    requests go on meanwhile), ``verify_block_checksums`` (true: every block a read gives
    out is checked first), and the names of the headers a POST replaces (``post_keys``,
    lower case, set by the server).
    """

    def __init__(self, conf: dict, logger, post_keys: frozenset[str] = frozenset()):
        self.logger = logger
        self.devices = conf.get("devices", "/srv/node")
        self._devices_prefix = os.path.join(self.devices, "")  # with one trailing slash
        self.mount_check = conf_bool(conf, "mount_check", False)
        self.disk_chunk_size = conf_int(conf, "disk_chunk_size", 65536, minimum=1)
        self.keep_cache_size = conf_int(conf, "keep_cache_size", 5 * 1024 * 1024, minimum=0)
        reserve = str(conf.get("fallocate_reserve", "0") or "0").strip()
        try:
            if reserve.endswith("%"):
                self.reserve_bytes, self.reserve_percent = 0, float(reserve[:-1])
            else:
                self.reserve_bytes, self.reserve_percent = int(reserve), 0.0
        except ValueError:
            raise ConfigError(f"option fallocate_reserve: {reserve!r} is not a number "
                              "of bytes or a percentage") from None
        self.fsync_in_threads = conf_bool(conf, "fsync_in_threads", True)
        self.verify_block_checksums = conf_bool(conf, "verify_block_checksums", True)
        self.post_keys = post_keys

    # -- devices -------------------------------------------------------------------------

    def device_path(self, device: str) -> str:
        """The path of ``device``; :class:`DiskFileDeviceUnavailable` if ``mount_check``
        is on and it is not a mount point."""
        path = self._devices_prefix + device  # one checked path segment: no join needed
        if self.mount_check and not os.path.ismount(path):
            raise DiskFileDeviceUnavailable(f"{path} is not mounted")
        return path

    def check_device(self, device_path: str) -> None:
        """:class:`DiskFileDeviceUnavailable` unless ``device_path`` is a usable directory.

        Called on slow paths only (a missing directory), never before each request.
        """
        if not os.path.isdir(device_path):
            raise DiskFileDeviceUnavailable(f"{device_path} is not a directory")

    def check_xattr_support(self) -> None:
        """Refuse (``DiskFileXattrNotSupported``) a devices tree without user xattrs.

        Probes the devices directory and each device in it with a small file, since each
        device may be a separate filesystem. Object metadata lives in extended attributes:
        without them no object could be stored.
        """
        if not os.path.isdir(self.devices):
            raise ConfigError(f"devices directory {self.devices} does not exist")
        places = [self.devices] + [
            os.path.join(self.devices, name) for name in sorted(os.listdir(self.devices))
            if os.path.isdir(os.path.join(self.devices, name))]
        for place in places:
            probe = os.path.join(place, f".oiofs-xattr-probe.{os.getpid()}")
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as err:
                self.logger.warning("cannot probe xattr support in %s: %s", place, err)
                continue
            try:
                os.setxattr(fd, "user.oiofs.probe", b"1")
            except OSError as err:
                if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise DiskFileXattrNotSupported(
                        f"the filesystem of {place} does not support user extended "
                        "attributes, where object metadata is kept; mount it with user "
                        "xattrs enabled (ext4/xfs do by default)") from None
                raise
            finally:
                os.close(fd)
                os.unlink(probe)

    def get_diskfile(self, device: str, partition: str, account: str, container: str,
                     obj: str, policy: StoragePolicy) -> DiskFile:
        """The :class:`DiskFile` for ``/account/container/obj`` (names as real text)."""
        return DiskFile(self, self.device_path(device), partition, account, container, obj,
                        policy)

    def write_async_pending(self, device: str, policy: StoragePolicy, name_hash: str,
                            timestamp_internal: str, update: dict) -> str:
        """Durably keep a container ``update`` that could not be delivered; its path."""
        return async_pending.write_async_pending(self.device_path(device), policy, name_hash,
                                                 timestamp_internal, update)

    def check_reserve(self, fd: int, size: int) -> None:
        """:class:`DiskFileNoSpace` if writing ``size`` bytes would eat the reserve."""
        if not (self.reserve_bytes or self.reserve_percent):
            return
        st = os.fstatvfs(fd)
        free = st.f_frsize * st.f_bavail - size
        if free < self.reserve_bytes or (
                self.reserve_percent and
                100.0 * free / (st.f_frsize * st.f_blocks or 1) < self.reserve_percent):
            raise DiskFileNoSpace("free space would fall below fallocate_reserve")


class DiskFile:
    """One object on one device: open it to read, create/write_metadata/delete to change it."""

    def __init__(self, manager: DiskFileManager, device_path: str, partition: str,
                 account: str, container: str, obj: str, policy: StoragePolicy):
        self.manager = manager
        self.device_path = device_path
        self.policy = policy
        self.name = f"/{account}/{container}/{obj}"
        self.name_hash = hash_path(account, container, obj)
        # plain concatenation: every part is a single checked path segment
        self.suffix_dir = (f"{device_path}/{policy.get_diskfile_dir('objects')}/"
                           f"{partition}/{self.name_hash[-3:]}")
        self.hash_dir = f"{self.suffix_dir}/{self.name_hash}"
        self._files: filenames.OnDiskFiles | None = None
        #: the last listing found no hash directory (a write then makes it before renaming)
        self._dir_missing = False
        self._fd: int | None = None
        #: after open(): the merged metadata, and the length of the data in bytes
        self.metadata: dict[str, str] = {}
        self.content_length = 0
        #: after open(): where the data's block checksums are (``None``: an older file)
        self.blocks: BlockRef | None = None

    # -- reading -------------------------------------------------------------------------

    def ondisk(self) -> filenames.OnDiskFiles:
        """The files that describe the object now (one directory listing, cached)."""
        if self._files is None:
            try:
                names = os.listdir(self.hash_dir)
                self._dir_missing = False
            except (FileNotFoundError, NotADirectoryError):
                names = []
                self._dir_missing = True
            self._files = filenames.select_files(names)
        return self._files

    @property
    def data_timestamp(self) -> Timestamp:
        """Timestamp of the open ``.data``."""
        return Timestamp(self.ondisk().data_or_ts_timestamp)

    @property
    def timestamp(self) -> Timestamp:
        """Newest timestamp of the open object (its ``.meta`` if one applies)."""
        return Timestamp(self.ondisk().newest)

    def open(self, current_time: float | None = None, replication: bool = False) -> DiskFile:
        """Read the object's metadata and keep its data open; see the module docstring.

        An ``X-Delete-At`` at or before ``current_time`` (now by default) makes it
        :class:`DiskFileExpired`, unless ``replication`` (replicators see everything).
        """
        for _attempt in range(3):
            try:
                self._open(current_time, replication)
                return self
            except FileNotFoundError:
                # a concurrent write replaced the file between listing and opening
                self._files = None
        raise DiskFileNotExist(self.name)

    def _open(self, current_time: float | None, replication: bool) -> None:
        try:
            names = os.listdir(self.hash_dir)
            self._dir_missing = False
        except (FileNotFoundError, NotADirectoryError):
            self.manager.check_device(self.device_path)
            self._files = filenames.select_files([])
            self._dir_missing = True
            raise DiskFileNotExist(self.name) from None
        files = self._files = filenames.select_files(names)
        if files.tombstone:
            raise DiskFileDeleted(Timestamp(files.data_or_ts_timestamp))
        if not files.data:
            raise DiskFileNotExist(self.name)
        fd = os.open(f"{self.hash_dir}/{files.data}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            metadata = self._read_data_metadata(fd, files)
            if files.meta:
                metadata = self._apply_meta(metadata, files.meta)
            delete_at = metadata.get("X-Delete-At")
            if delete_at and not replication:
                now = time.time() if current_time is None else current_time
                if int(delete_at) <= now:
                    raise DiskFileExpired(Timestamp(files.newest), metadata)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.metadata = metadata

    def _read_data_metadata(self, fd: int, files: filenames.OnDiskFiles) -> dict[str, str]:
        try:
            metadata, data_length, self.blocks = read_header(fd)
            if data_length is None:
                data_length = os.fstat(fd).st_size
            if metadata.get("name") != self.name:
                if "name" in metadata:
                    raise DiskFileCollision(f"{self.hash_dir} holds {metadata['name']!r}, "
                                            f"not {self.name!r}")
                raise DiskFileCorrupt("no object name in metadata")
            if metadata.get("Content-Length") != str(data_length):
                raise DiskFileCorrupt(f"data is {data_length} bytes, metadata says "
                                      f"{metadata.get('Content-Length')}")
            if "X-Timestamp" not in metadata or "ETag" not in metadata:
                raise DiskFileCorrupt("metadata lacks X-Timestamp or ETag")
            if "X-Delete-At" in metadata and not metadata["X-Delete-At"].isdigit():
                raise DiskFileCorrupt("bad X-Delete-At in metadata")
        except DiskFileCorrupt as err:
            self._quarantine(f"{files.data}: {err}")
        self.content_length = data_length
        return metadata

    def _apply_meta(self, data_meta: dict[str, str], meta_name: str) -> dict[str, str]:
        try:
            fd = os.open(os.path.join(self.hash_dir, meta_name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                meta, _ = read_metadata(fd)
            finally:
                os.close(fd)
            if "X-Delete-At" in meta and not meta["X-Delete-At"].isdigit():
                raise DiskFileCorrupt("bad X-Delete-At in .meta")
        except DiskFileCorrupt as err:
            self._quarantine(f"{meta_name}: {err}")
        post_keys = self.manager.post_keys
        merged = {k: v for k, v in data_meta.items()
                  if not _post_replaceable(k, post_keys) and k != "X-Delete-At"}
        for key, value in meta.items():
            if key != "name":
                merged[key] = value
        return merged

    def quarantine_bad_data(self, data_name: str, reason: str) -> NoReturn:
        """Quarantine the object because its data file ``data_name`` was found bad while
        being read, unless a newer write replaced that file meanwhile; then
        :class:`DiskFileQuarantined` either way (the read cannot go on)."""
        if data_name in filenames.list_hash_dir(self.hash_dir):
            self._quarantine(f"{data_name}: {reason}")
        raise DiskFileQuarantined(reason)

    def _quarantine(self, reason: str) -> NoReturn:
        where = quarantine_hash_dir(self.device_path, self.hash_dir, self.policy)
        self.manager.logger.error("quarantined %s (%s) to %s: %s", self.hash_dir, self.name,
                                  where, reason)
        self._files = filenames.select_files([])
        raise DiskFileQuarantined(reason)

    def reader(self) -> DiskFileReader:
        """An iterable over the open data; it owns (and closes) the file descriptor."""
        if self._fd is None:
            raise ValueError("DiskFile is not open")
        fd, self._fd = self._fd, None
        verifier = None
        on_corrupt = None
        if self.blocks is not None and self.manager.verify_block_checksums:
            verifier = BlockVerifier(fd, self.blocks.offset, self.content_length,
                                     self.blocks.block_size)
            data_name = self.ondisk().data

            def on_corrupt(reason: str) -> NoReturn:
                self.quarantine_bad_data(data_name or "", reason)

        return DiskFileReader(fd, self.content_length, self.manager.disk_chunk_size,
                              keep_cache=self.content_length <= self.manager.keep_cache_size,
                              verifier=verifier, on_corrupt=on_corrupt)

    def close(self) -> None:
        """Close the data file if still open (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DiskFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    def create(self, size: int | None = None) -> DiskFileWriter:
        """A writer for a new ``.data`` of ``size`` bytes (``None``: not known yet)."""
        return DiskFileWriter(self, size)

    def write_metadata(self, metadata: dict[str, str]) -> None:
        """Durably store ``metadata`` as a ``.meta`` at ``metadata['X-Timestamp']`` (POST)."""
        with DiskFileWriter(self, 0) as writer:
            writer.put(metadata, filenames.META)

    def commit(self, timestamp: Timestamp, frag_index: int,
               footers: dict[str, str]) -> dict[str, str]:
        """Make the fragment archive written at ``timestamp`` durable (second phase of an
        erasure-coded PUT): ``footers`` are added to its metadata, the file is fsynced and
        renamed to its durable name (``<ts>#<fi>#d.data``), the directory fsynced.

        Returns the archive's metadata. Committing an archive already durable changes
        nothing; :class:`DiskFileNotExist` when neither form is there.
        """
        pending = os.path.join(self.hash_dir,
                               filenames.filename(timestamp.internal, filenames.DATA,
                                                  frag_index))
        durable = os.path.join(self.hash_dir,
                               filenames.filename(timestamp.internal, filenames.DATA,
                                                  frag_index, durable=True))
        if self.manager.fsync_in_threads:
            metadata = run_in_thread(_commit_archive, pending, durable, footers)
        else:
            metadata = _commit_archive(pending, durable, footers)
        if metadata is None:
            raise DiskFileNotExist(self.name)
        invalidate_hash(self.suffix_dir)
        self._files = filenames.cleanup_ondisk_files(self.hash_dir)
        return metadata

    def delete(self, timestamp: Timestamp) -> None:
        """Durably store a tombstone at ``timestamp`` (DELETE)."""
        with DiskFileWriter(self, 0) as writer:
            writer.put({"X-Timestamp": timestamp.internal, "name": self.name},
                       filenames.TOMBSTONE)


def _commit_archive(pending: str, durable: str,
                    footers: dict[str, str]) -> dict[str, str] | None:
    """:meth:`DiskFile.commit`'s blocking part; ``None`` if no archive is there."""
    try:
        fd = os.open(pending, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            fd = os.open(durable, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:  # committed already (a retried commit): nothing to change
            return read_metadata(fd)[0]
        finally:
            os.close(fd)
    try:
        metadata, data_length, blocks = read_header(fd)
        if data_length is None:
            data_length = os.fstat(fd).st_size
        metadata.update(footers)
        write_metadata(fd, metadata, data_length, blocks)
        # the footers must be on disk before the name says the archive is durable
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(pending, durable)
    # fsync the directory, or the rename (the commit itself) may be lost in a crash
    fsync_dir(os.path.dirname(durable))
    return metadata
