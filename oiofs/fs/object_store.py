""":class:`ObjectStore`: a :class:`~oiofs.fs.store.Store` over one container of an oiofs (or
Swift) cluster, through :class:`oiofs.client.Connection` (the project's one HTTP client).

The layout is the one rclone and other Swift tools read and write:

- a file ``/a/b.txt`` is the object ``a/b.txt``;
- a directory ``/a`` is the prefix ``a/``; ``mkdir`` also writes an empty marker object
  ``a/`` (``application/directory``) so empty directories exist. A directory holding
  objects but no marker (made by another tool) is a directory too, and so is an object
  ``a`` of type ``application/directory`` (the ``swift`` client's markers).

A directory listing is one delimiter listing of the prefix (``ls -l`` of a directory of
N files costs one request per 10,000 entries, not N HEADs): files take their size and
time from it, sub-directories appear as ``subdir`` entries.

Object stores have no rename: :meth:`ObjectStore.move` is a server-side copy and a delete
per object (a directory move copies every object below it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from oiofs.client import ClientError, Conflict, Connection, NotFound
from oiofs.fs import paths
from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    IsADirectoryStoreError,
    NoSuchFilesystemObjectError,
    StoreAccessError,
    StoreError,
)
from oiofs.fs.store import Metadata, Store, dir_metadata

DIRECTORY_TYPE = "application/directory"
#: Files above this size are uploaded as SLOs with segments in parallel.
SEGMENT_SIZE = 256 * 1024 * 1024
#: What get_overall_space reports: a cluster has no fixed size seen from one account.
NOMINAL_SPACE = 2**50


def listing_time(value: str) -> float:
    """Seconds since the epoch of a listing's ``last_modified`` (ISO 8601, UTC)."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return 0.0


def header_time(headers: dict[str, str]) -> float:
    """The object's time from a HEAD: ``x-timestamp`` (exact), else ``last-modified``."""
    try:
        return float(headers["x-timestamp"])
    except (KeyError, ValueError):
        pass
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(headers["last-modified"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


class ObjectStore(Store):
    """The container ``container`` of ``conn``'s account as a filesystem."""

    def __init__(self, conn: Connection, container: str, create: bool = True) -> None:
        self.conn = conn
        self.container = container
        if create:
            self._call(conn.put_container, container)
        else:
            self._call(conn.head_container, container)

    # --- errors: client errors become store errors here, once ------------------------

    def _call(self, func: Any, *args: Any, path: str = "", **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NotFound:
            raise NoSuchFilesystemObjectError(f"no such file or directory: {path}") from None
        except Conflict as exc:
            raise DirectoryNotEmptyError(f"{path}: {exc}") from None
        except ClientError as exc:
            raise StoreAccessError(f"{path}: {exc}") from exc

    @staticmethod
    def _name(path: str) -> str:
        return paths.check(path)[1:]

    def _prefix(self, directory: str) -> str:
        return "" if directory == "/" else self._name(directory) + "/"

    # --- identity and space --------------------------------------------------------

    def get_name(self) -> str:
        return "oiofs"

    def account_info(self) -> str:
        return f"oiofs container {self.container} at {self.conn.url or '(not authenticated)'}"

    def get_used_space(self) -> int:
        headers = self._call(self.conn.head_container, self.container)
        return int(headers.get("x-container-bytes-used", 0) or 0)

    def get_overall_space(self) -> int:
        return NOMINAL_SPACE

    # --- reads ---------------------------------------------------------------------

    def get_metadata(self, path: str) -> Metadata:
        name = self._name(path)
        if not name:
            return dir_metadata()
        try:
            headers = self.conn.head_object(self.container, name)
        except NotFound:
            headers = None
        except ClientError as exc:
            raise StoreAccessError(f"{path}: {exc}") from exc
        if headers is not None:
            if headers.get("content-type", "").startswith(DIRECTORY_TYPE):
                return dir_metadata(header_time(headers))
            return {"modified": header_time(headers),
                    "bytes": int(headers.get("content-length", 0) or 0), "is_dir": False}
        try:
            marker = self.conn.head_object(self.container, name + "/")
            return dir_metadata(header_time(marker))
        except NotFound:
            pass
        except ClientError as exc:
            raise StoreAccessError(f"{path}: {exc}") from exc
        if next(iter(self._call(self.conn.list_objects, self.container, name + "/",
                                limit=1, path=path)), None) is not None:
            return dir_metadata()
        raise NoSuchFilesystemObjectError(f"no such file or directory: {path}")

    def get_directory_listing_with_metadata(self, directory: str) -> dict[str, Metadata]:
        prefix = self._prefix(directory)
        out: dict[str, Metadata] = {}
        listing = self._call(self.conn.list_objects, self.container, prefix or None,
                             delimiter="/", path=directory)
        marked = False
        for item in listing:
            if "subdir" in item:
                out[paths.join(directory, item["subdir"][len(prefix):-1])] = dir_metadata()
                continue
            name = item["name"]
            if name == prefix:
                marked = True                  # the directory's own marker: it exists
                continue
            child = paths.join(directory, name[len(prefix):])
            modified = listing_time(item.get("last_modified", ""))
            if item.get("content_type", "").startswith(DIRECTORY_TYPE):
                out[child] = dir_metadata(modified)
            else:
                out[child] = {"modified": modified, "bytes": int(item.get("bytes", 0)),
                              "is_dir": False}
        if (not out and not marked and directory != "/"
                and not self.get_metadata(directory)["is_dir"]):
            raise NoSuchFilesystemObjectError(f"not a directory: {directory}")
        return out

    def iter_file(self, path_to_file: str) -> Iterator[bytes]:
        name = self._name(path_to_file)
        download = self._call(self.conn.get_object, self.container, name, path=path_to_file)
        return self._chunks(download, path_to_file)

    def _chunks(self, download: Any, path: str) -> Iterator[bytes]:
        try:
            with download:
                yield from download
        except ClientError as exc:
            raise StoreAccessError(f"{path}: {exc}") from exc

    def read_into(self, path_to_file: str, fileobject: IO[bytes]) -> int:
        start = fileobject.tell()
        self._call(self.conn.download, self.container, self._name(path_to_file), fileobject,
                   path=path_to_file)
        return fileobject.tell() - start

    # --- writes --------------------------------------------------------------------

    def store_fileobject(self, fileobject: IO[bytes], path: str,
                         interrupt_event: Any = None) -> float:
        """Upload ``fileobject`` as ``path``; SLO with parallel segments past 256 MiB.

        The parent directory is not checked (one request saved per file; the caching
        store checks it from its listing cache).
        """
        name = self._name(path)
        if not name:
            raise IsADirectoryStoreError("/ is a directory")
        if interrupt_event is not None and interrupt_event.is_set():
            raise StoreError(f"upload of {path} interrupted")
        size = None
        try:
            size = os.fstat(fileobject.fileno()).st_size - fileobject.tell()
        except (AttributeError, OSError, ValueError):
            pass
        if size is not None and size > SEGMENT_SIZE:
            self._call(self.conn.upload, self.container, name, fileobject,
                       segment_size=SEGMENT_SIZE, path=path)
        else:
            self._call(self.conn.put_object, self.container, name, fileobject, length=size,
                       path=path)
        return time.time()

    def create_directory(self, directory: str, *, known_absent: bool = False) -> None:
        """Write the directory's marker object; unless ``known_absent``, first check that
        nothing is there (two HEAD and a listing: a file, a marker, objects below)."""
        name = self._name(directory)
        if not name:
            raise AlreadyExistsError("/ exists")
        if not known_absent and self.exists(directory):
            raise AlreadyExistsError(f"already exists: {directory}")
        self._call(self.conn.put_object, self.container, name + "/", b"",
                   content_type=DIRECTORY_TYPE, path=directory)

    def delete(self, path: str, is_dir: bool = False) -> None:
        name = self._name(path)
        if not name:
            raise StoreError("cannot delete /")
        if not is_dir:
            try:
                self.conn.delete_object(self.container, name)
                return
            except NotFound:
                pass
            except ClientError as exc:
                raise StoreAccessError(f"{path}: {exc}") from exc
            if not self.get_metadata(path)["is_dir"]:
                raise NoSuchFilesystemObjectError(f"no such file: {path}")
        for item in self._call(self.conn.list_objects, self.container, name + "/", limit=2,
                               path=path):
            if item.get("name") != name + "/":
                raise DirectoryNotEmptyError(f"directory not empty: {path}")
        meta = self.get_metadata(path)          # raises when nothing is there
        if not meta["is_dir"]:
            raise NoSuchFilesystemObjectError(f"not a directory: {path}")
        for marker in (name + "/", name):
            try:
                headers = self.conn.head_object(self.container, marker)
            except NotFound:
                continue
            except ClientError as exc:
                raise StoreAccessError(f"{path}: {exc}") from exc
            if marker.endswith("/") or headers.get("content-type", "").startswith(
                    DIRECTORY_TYPE):
                self._call(self.conn.delete_object, self.container, marker, path=path)

    def _objects_below(self, directory: str) -> list[str]:
        prefix = self._prefix(directory)
        return [item["name"] for item in self._call(self.conn.list_objects, self.container,
                                                    prefix, path=directory)]

    def duplicate(self, path_to_src: str, path_to_dest: str) -> None:
        self._copy(path_to_src, path_to_dest, delete=False)

    def move(self, path_to_src: str, path_to_dest: str) -> None:
        self._copy(path_to_src, path_to_dest, delete=True)

    def _copy(self, src: str, dest: str, delete: bool) -> None:
        src_name, dest_name = self._name(src), self._name(dest)
        if not src_name or not dest_name or paths.is_under(dest, src):
            raise StoreError(f"cannot copy {src} to {dest}")
        if not self.get_metadata(src)["is_dir"]:
            self._call(self.conn.copy_object, self.container, src_name, self.container,
                       dest_name, path=src)
            if delete:
                self._call(self.conn.delete_object, self.container, src_name, path=src)
            return
        names = self._objects_below(src)
        if src_name + "/" not in names:        # no marker at the source: give dest one
            self._call(self.conn.put_object, self.container, dest_name + "/", b"",
                       content_type=DIRECTORY_TYPE, path=dest)
        for name in names:
            target = dest_name + "/" + name[len(src_name) + 1:]
            self._call(self.conn.copy_object, self.container, name, self.container, target,
                       path=src)
        if delete:
            for name in names:
                try:
                    self.conn.delete_object(self.container, name)
                except NotFound:
                    pass
                except ClientError as exc:
                    raise StoreAccessError(f"{src}: {exc}") from exc

    def get_configuration(self) -> dict[str, Any]:
        return {"container": self.container}

    def close(self) -> None:
        self.conn.close()
