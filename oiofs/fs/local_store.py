""":class:`LocalStore`: a :class:`~oiofs.fs.store.Store` over a local directory.

The reference implementation: the tests run every wrapper over it, and it is what
``oiofs-mount --local DIR`` serves. Files are written to a temporary name, fsynced and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any

from oiofs.fs import paths
from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    IsADirectoryStoreError,
    NoSuchFilesystemObjectError,
    NotADirectoryStoreError,
    StoreError,
    StoreSpaceLimitError,
)
from oiofs.fs.store import Metadata, Store

CHUNK = 1 << 20
TMP_PREFIX = ".oiofs-tmp-"


def _translate(exc: OSError, path: str) -> StoreError:
    """The store error for an ``OSError`` met at ``path`` (errno mapped once, here)."""
    kinds: dict[int, type[StoreError]] = {
        errno.ENOENT: NoSuchFilesystemObjectError,
        errno.EEXIST: AlreadyExistsError,
        errno.ENOTEMPTY: DirectoryNotEmptyError,
        errno.ENOTDIR: NotADirectoryStoreError,
        errno.EISDIR: IsADirectoryStoreError,
        errno.ENOSPC: StoreSpaceLimitError,
    }
    return kinds.get(exc.errno or 0, StoreError)(f"{path}: {exc.strerror}")


class LocalStore(Store):
    """A store whose files are the files under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        if not os.path.isdir(self.root):
            raise NoSuchFilesystemObjectError(f"no directory {self.root}")

    def _local(self, path: str) -> str:
        path = paths.check(path)
        return self.root if path == "/" else os.path.join(self.root, path[1:])

    def get_name(self) -> str:
        return "local"

    def account_info(self) -> str:
        return f"local directory {self.root}"

    def get_overall_space(self) -> int:
        st = os.statvfs(self.root)
        return st.f_blocks * st.f_frsize

    def get_free_space(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def get_used_space(self) -> int:
        total = 0
        for top, _dirs, files in os.walk(self.root):
            for name in files:
                try:
                    total += os.lstat(os.path.join(top, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    # --- reads ---------------------------------------------------------------------

    @staticmethod
    def _meta(st: os.stat_result) -> Metadata:
        is_dir = stat.S_ISDIR(st.st_mode)
        return {"modified": st.st_mtime, "bytes": 0 if is_dir else st.st_size,
                "is_dir": is_dir}

    def get_metadata(self, path: str) -> Metadata:
        try:
            return self._meta(os.stat(self._local(path)))
        except OSError as exc:
            raise _translate(exc, path) from None

    def get_directory_listing_with_metadata(self, directory: str) -> dict[str, Metadata]:
        local = self._local(directory)
        out: dict[str, Metadata] = {}
        try:
            with os.scandir(local) as entries:
                for entry in entries:
                    if entry.name.startswith(TMP_PREFIX):
                        continue
                    try:
                        out[paths.join(directory, entry.name)] = self._meta(entry.stat())
                    except FileNotFoundError:
                        continue
        except OSError as exc:
            raise _translate(exc, directory) from None
        return out

    def iter_file(self, path_to_file: str) -> Iterator[bytes]:
        try:
            fileobject = open(self._local(path_to_file), "rb")
        except OSError as exc:
            raise _translate(exc, path_to_file) from None
        return self._chunks(fileobject)

    @staticmethod
    def _chunks(fileobject: IO[bytes]) -> Iterator[bytes]:
        with fileobject:
            while chunk := fileobject.read(CHUNK):
                yield chunk

    # --- writes --------------------------------------------------------------------

    def store_fileobject(self, fileobject: IO[bytes], path: str,
                         interrupt_event: Any = None) -> float:
        local = self._local(path)
        if path == "/" or os.path.isdir(local):
            raise IsADirectoryStoreError(f"{path} is a directory")
        parent = os.path.dirname(local)
        if not os.path.isdir(parent):
            raise NoSuchFilesystemObjectError(f"no directory {paths.parent(path)}")
        tmp = os.path.join(parent, TMP_PREFIX + uuid.uuid4().hex)
        try:
            with open(tmp, "wb") as out:
                while chunk := fileobject.read(CHUNK):
                    if interrupt_event is not None and interrupt_event.is_set():
                        raise StoreError(f"upload of {path} interrupted")
                    out.write(chunk)
                out.flush()
                # fsync before the rename, or a crash may leave the new name on no data.
                os.fsync(out.fileno())
            os.replace(tmp, local)
        except OSError as exc:
            raise _translate(exc, path) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return os.stat(local).st_mtime

    def create_directory(self, directory: str, *, known_absent: bool = False) -> None:
        try:
            os.mkdir(self._local(directory))
        except OSError as exc:
            raise _translate(exc, directory) from None

    def delete(self, path: str, is_dir: bool = False) -> None:
        local = self._local(path)
        try:
            if is_dir or os.path.isdir(local):
                os.rmdir(local)
            else:
                os.unlink(local)
        except OSError as exc:
            raise _translate(exc, path) from None

    def duplicate(self, path_to_src: str, path_to_dest: str) -> None:
        src, dest = self._local(path_to_src), self._local(path_to_dest)
        try:
            if os.path.isdir(src):
                shutil.copytree(src, dest, dirs_exist_ok=True)
            else:
                shutil.copyfile(src, dest)
        except OSError as exc:
            raise _translate(exc, path_to_src) from None

    def move(self, path_to_src: str, path_to_dest: str) -> None:
        try:
            os.replace(self._local(path_to_src), self._local(path_to_dest))
        except OSError as exc:
            raise _translate(exc, path_to_src) from None

    def get_configuration(self) -> dict[str, Any]:
        return {"root": self.root}

    def touch(self, path: str, modified: float | None = None) -> None:
        """Set the modification time of ``path`` (tests use it to fake a newer version)."""
        now = time.time() if modified is None else modified
        os.utime(self._local(path), (now, now))
