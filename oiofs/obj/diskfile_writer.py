"""Writing object files durably: :class:`DiskFileWriter`, behind :meth:`DiskFile.create
<oiofs.obj.diskfile.DiskFile.create>` (the promises are in :mod:`oiofs.obj.diskfile`).

A new file is first a temporary file in ``<device>/tmp``. ``put`` writes the metadata,
fsyncs the file, renames it into the hash directory, fsyncs the hash directory and the
parent of every directory it had to create; then marks the suffix changed and unlinks
obsolete files. (An unnamed ``O_TMPFILE`` linked into place was measured too, to save the
temporary directory entry: no CPU difference on ext4, see ``docs/benchmarks.md``.)
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from oiofs.common.exceptions import DiskFileNoSpace
from oiofs.common.fsutils import fsync_dir, mkdirs
from oiofs.common.real_threads import run_in_thread
from oiofs.obj import filenames
from oiofs.obj.block_checksums import BLOCK_SIZE, BlockHasher
from oiofs.obj.diskfile_reader import drop_cache
from oiofs.obj.hashes import invalidate_hash
from oiofs.obj.metadata import write_block_list, write_metadata

if TYPE_CHECKING:
    from oiofs.obj.diskfile import DiskFile

TMP_DIR = "tmp"
#: bodies at least this large get their space reserved up front (fallocate): it keeps large
#: files contiguous and fails early when the disk is full; for small ones it only costs
FALLOCATE_MIN = 65536



def _make_dirs(path: str, stop_at: str) -> list[str]:
    """Create ``path`` and its missing parents below ``stop_at``; the ones that were missing,
    parents first.

    Unlike :func:`oiofs.common.fsutils.mkdirs_durable` this does not fsync: the writer
    fsyncs the new directories' parents itself, after the rename, to pay for one journal
    commit instead of one per level. It tries ``mkdir`` first and climbs only when the
    parent is missing too: one call when just the hash directory is new. A directory a
    concurrent writer made first counts as missing: its parent is fsynced all the same.
    """
    try:
        os.mkdir(path)
        return [path]
    except FileExistsError:
        return [path]
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == stop_at or len(parent) <= len(stop_at):
            raise
    created = _make_dirs(parent, stop_at)
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    return [*created, path]


class DiskFileWriter:
    """Writes one new object file through a temporary file; see :meth:`put`."""

    def __init__(self, diskfile: DiskFile, size: int | None):
        self.diskfile = diskfile
        manager = diskfile.manager
        self.manager = manager
        tmp_dir = f"{diskfile.device_path}/{TMP_DIR}"
        self.tmp_path = f"{tmp_dir}/{os.urandom(12).hex()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            self.fd: int | None = os.open(self.tmp_path, flags, 0o644)
        except FileNotFoundError:
            manager.check_device(diskfile.device_path)  # never create a missing device
            mkdirs(tmp_dir)
            self.fd = os.open(self.tmp_path, flags, 0o644)
        self.upload_size = 0
        self._blocks = BlockHasher()
        self._put = False
        try:
            if size:
                manager.check_reserve(self.fd, size)
            if size and size >= FALLOCATE_MIN:
                try:
                    os.posix_fallocate(self.fd, 0, size)
                except OSError as err:
                    if err.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise DiskFileNoSpace(str(err)) from err
                    if err.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                        raise
        except BaseException:
            self.close()
            raise

    def _open_fd(self) -> int:
        """The temporary file's descriptor; ``ValueError`` once the writer is closed."""
        if self.fd is None:
            raise ValueError("the object writer is closed")
        return self.fd

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary file."""
        fd = self._open_fd()
        view = memoryview(chunk)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFileNoSpace(str(err)) from err
            raise
        self._blocks.update(chunk)
        self.upload_size += len(chunk)

    def put(self, metadata: dict[str, str], ext: str = filenames.DATA,
            frag_index: int | None = None, durable: bool = False) -> None:
        """Make the file durable under ``<hash dir>/<metadata['X-Timestamp']><ext>``
        (``<ts>#<frag_index>.data`` for a fragment archive, which :meth:`DiskFile.commit`
        later marks durable; ``<ts>#<frag_index>#d.data`` at once with ``durable``, for an
        archive whose metadata already holds the footers: a reconstructor's push).

        When this returns the file is on disk and named, and survives a crash. The blocking
        part runs in a real thread when ``fsync_in_threads`` is on (one hop for all of it:
        a hop costs more CPU than the calls it wraps). The metadata (written to the page
        cache, like the body), the suffix invalidation and the cleanup stay out of it:
        Python run in the real thread contends for the GIL with the hub (measured: about
        25 more futex calls per PUT with the last two inside).
        """
        self._write_metadata(metadata, ext)
        diskfile = self.diskfile
        name = filenames.filename(metadata["X-Timestamp"], ext, frag_index, durable)
        # the listing this request made before writing (its conflict check), if any
        before = diskfile._files
        dir_fds = self._open_directories(before is not None and diskfile._dir_missing)
        try:
            if self.manager.fsync_in_threads:
                run_in_thread(self._make_durable, name, dir_fds)
            else:
                self._make_durable(name, dir_fds)
        finally:
            for dir_fd in dir_fds:
                os.close(dir_fd)
        self.close()
        invalidate_hash(diskfile.suffix_dir)
        diskfile._files = filenames.cleanup_after_write(diskfile.hash_dir, before, name)
        diskfile._dir_missing = False

    def _open_directories(self, missing: bool) -> list[int]:
        """Descriptors of the directories :meth:`_make_durable` fsyncs: the hash directory
        (made first, with its missing parents, when it is not there), then the parent of
        every directory made.

        Done by the hub, before the hop to the real thread: the thread then runs only the
        calls that make the write durable (fsyncs and the rename). Each call a real thread
        makes hands the GIL back and forth with the hub, and a busy server paid about a
        third of its CPU per small PUT for those hand-offs (``docs/benchmarks.md``). An
        empty hash directory left by a crash before the rename is harmless, as after any
        crash between ``mkdir`` and rename.
        """
        hash_dir = self.diskfile.hash_dir
        created: list[str] = []
        if missing:
            created = _make_dirs(hash_dir, self.diskfile.device_path)
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        try:
            fds = [os.open(hash_dir, flags)]
        except FileNotFoundError:
            if created:
                raise
            created = _make_dirs(hash_dir, self.diskfile.device_path)
            fds = [os.open(hash_dir, flags)]
        try:
            for directory in created:
                fds.append(os.open(os.path.dirname(directory), flags))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def _write_metadata(self, metadata: dict[str, str], ext: str) -> None:
        """Append the block checksum list (a ``.data``) and store the metadata."""
        fd = self._open_fd()
        blocks = None
        if ext == filenames.DATA:
            blocks = write_block_list(fd, self.upload_size, self._blocks.packed(),
                                      BLOCK_SIZE)
        write_metadata(fd, metadata, self.upload_size, blocks)

    def _make_durable(self, name: str, dir_fds: list[int]) -> None:
        """The blocking part of :meth:`put`: fsync the file, rename it into the hash
        directory, fsync the directories of ``dir_fds`` (from :meth:`_open_directories`)."""
        fd = self._open_fd()
        hash_dir = self.diskfile.hash_dir
        target = f"{hash_dir}/{name}"
        # fsync before the rename: a crash after the rename must not expose a file
        # whose data never reached the disk
        os.fsync(fd)
        if self.upload_size > self.manager.keep_cache_size:
            drop_cache(fd, 0, 0)
        remade: list[str] = []
        try:
            os.rename(self.tmp_path, target)
        except FileNotFoundError:
            # the hash directory went away since it was opened (a replicator removing it
            # once empty): made again, and fsynced by name below with its parents
            remade = _make_dirs(hash_dir, self.diskfile.device_path)
            os.rename(self.tmp_path, target)
        self._put = True
        # fsync the hash directory, or the rename itself may be lost in a crash; and the
        # parent of every directory just made, or a crash could lose the new directory
        # with the file in it
        for dir_fd in dir_fds:
            os.fsync(dir_fd)
        if remade:
            fsync_dir(hash_dir)
            for directory in remade:
                fsync_dir(os.path.dirname(directory))

    def close(self) -> None:
        """Close the temporary file; unlink it unless :meth:`put` succeeded (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self._put:
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass
            self._put = True  # nothing left to clean

    def __enter__(self) -> DiskFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
