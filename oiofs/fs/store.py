"""The :class:`Store` interface: what a filesystem needs from a storage backend.

Every backend (the oiofs HTTP API, a local directory) implements it; caching and chunking
are wrappers that implement it too, so they stack. Paths are always absolute filesystem
paths (``/dir/file``), checked by :func:`oiofs.fs.paths.check`.

Metadata is a dict with three keys, the seed's ones:

- ``modified``: last modification, seconds since the epoch (float);
- ``bytes``: the size of a file, 0 for a directory;
- ``is_dir``: True for a directory.

A subclass must implement :meth:`get_metadata` (then :meth:`exists`, :meth:`is_dir`,
:meth:`get_bytes`, :meth:`get_modified` work), the listing, the reads and writes, and at
least one of :meth:`duplicate` and :meth:`move`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any, TypedDict

from oiofs.fs import paths
from oiofs.fs.errors import NoSuchFilesystemObjectError, StoreError


class Metadata(TypedDict):
    """What a store knows about one path without reading it."""

    modified: float
    bytes: int
    is_dir: bool


def dir_metadata(modified: float = 0.0) -> Metadata:
    """The metadata of a directory."""
    return {"modified": modified, "bytes": 0, "is_dir": True}


class Store:
    """The seed's central interface for a storage provider (see the module docstring)."""

    # --- identity and space --------------------------------------------------------

    def get_name(self) -> str:
        """The name of the service, e.g. ``oiofs`` or ``local``."""
        raise NotImplementedError

    def get_logging_handler(self) -> str:
        """The logger name wrappers should share (the seed's hook); :meth:`get_name` here."""
        return self.get_name()

    def account_info(self) -> str:
        """A human-readable line about the account: provider, name, usage."""
        return f"{self.get_name()}: {self.get_used_space()} bytes used"

    def get_free_space(self) -> int:
        """Free space in bytes."""
        return max(0, self.get_overall_space() - self.get_used_space())

    def get_overall_space(self) -> int:
        """Overall space in bytes."""
        raise NotImplementedError

    def get_used_space(self) -> int:
        """Space used by files in bytes."""
        raise NotImplementedError

    def get_max_filesize(self) -> int:
        """The largest file the store takes, in bytes."""
        return 2**63 - 1

    def get_cache_expiration(self) -> float:
        """Seconds until a cached entry of this store expires (0: the store does not cache)."""
        return 0.0

    # --- reads ---------------------------------------------------------------------

    def get_file(self, path_to_file: str) -> bytes:
        """The whole content of a file. Convenient for small files; see :meth:`open_file`.

        Raises :class:`NoSuchFilesystemObjectError` when the file does not exist.
        """
        buf = io.BytesIO()
        self.read_into(path_to_file, buf)
        return buf.getvalue()

    def read_into(self, path_to_file: str, fileobject: IO[bytes]) -> int:
        """Stream the content of a file into ``fileobject``; return the number of bytes.

        The streaming form of :meth:`get_file`, used by the caching store to fill its cache
        without holding a file in memory.
        """
        count = 0
        for chunk in self.iter_file(path_to_file):
            fileobject.write(chunk)
            count += len(chunk)
        return count

    def iter_file(self, path_to_file: str) -> Iterator[bytes]:
        """The content of a file as an iterator of byte strings."""
        raise NotImplementedError

    def get_metadata(self, path: str) -> Metadata:
        """``modified``, ``bytes`` and ``is_dir`` of ``path``.

        Raises :class:`NoSuchFilesystemObjectError` when nothing exists at ``path``.
        """
        raise NotImplementedError

    def get_directory_listing(self, directory: str) -> list[str]:
        """Absolute paths of the entries of ``directory`` (files and directories)."""
        return sorted(self.get_directory_listing_with_metadata(directory))

    def get_directory_listing_with_metadata(self, directory: str) -> dict[str, Metadata]:
        """Every entry of ``directory``, absolute path -> metadata, in one call.

        Raises :class:`NoSuchFilesystemObjectError` when the directory does not exist.
        """
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        """True when a file or a directory exists at ``path``."""
        try:
            self.get_metadata(path)
        except NoSuchFilesystemObjectError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        """True for a directory, False for a file; raises when nothing is there."""
        return self.get_metadata(path)["is_dir"]

    def get_bytes(self, path: str) -> int:
        """The size of the file at ``path``, 0 for a directory."""
        return self.get_metadata(path)["bytes"]

    def get_modified(self, path: str) -> float:
        """When ``path`` was last modified, seconds since the epoch."""
        return self.get_metadata(path)["modified"]

    # --- writes --------------------------------------------------------------------

    def store_file(self, path_to_file: str, dest_dir: str = "/",
                   remote_file_name: str | None = None,
                   interrupt_event: Any = None) -> float:
        """Store the local file ``path_to_file`` as ``dest_dir/remote_file_name``.

        ``remote_file_name`` defaults to the local file's name. Returns when the file was
        stored, seconds since the epoch.
        """
        name = remote_file_name or path_to_file.rsplit("/", 1)[-1]
        with open(path_to_file, "rb") as fileobject:
            return self.store_fileobject(fileobject, paths.join(dest_dir, name),
                                         interrupt_event=interrupt_event)

    def store_fileobject(self, fileobject: IO[bytes], path: str,
                         interrupt_event: Any = None) -> float:
        """Store what ``fileobject`` holds from its current position at ``path``.

        The caller seeks ``fileobject`` to 0 first (the seed's rule). An existing file is
        replaced; the parent directory must exist. ``interrupt_event`` (a
        ``threading.Event``), when set, aborts the transfer with :class:`StoreError`.
        Returns when the file was stored, seconds since the epoch.
        """
        raise NotImplementedError

    def create_directory(self, directory: str, *, known_absent: bool = False) -> None:
        """Create ``directory``; :class:`AlreadyExistsError` when something is there.

        ``known_absent``: the caller has just seen that nothing is there (a caching
        store's listing of the parent); a store whose own check costs requests may skip
        it (another client creating the same name meanwhile is a race either way).
        """
        raise NotImplementedError

    def delete(self, path: str, is_dir: bool = False) -> None:
        """Delete the file at ``path``, or the empty directory when ``is_dir``.

        Raises :class:`DirectoryNotEmptyError` for a directory with entries (errno 39) and
        :class:`NoSuchFilesystemObjectError` when nothing is there.
        """
        raise NotImplementedError

    def duplicate(self, path_to_src: str, path_to_dest: str) -> None:
        """Copy a file or a whole directory tree; an existing destination is replaced."""
        if self.is_dir(path_to_src):
            if not self.exists(path_to_dest):
                self.create_directory(path_to_dest)
            for child in self.get_directory_listing(path_to_src):
                self.duplicate(child, paths.rebase(child, path_to_src, path_to_dest))
            return
        # Generic fallback through a temporary file: never the whole file in memory.
        import tempfile

        with tempfile.TemporaryFile() as tmp:
            self.read_into(path_to_src, tmp)
            tmp.seek(0)
            self.store_fileobject(tmp, path_to_dest)

    def move(self, path_to_src: str, path_to_dest: str) -> None:
        """Rename a file or a directory tree; an existing destination file is replaced."""
        is_dir = self.is_dir(path_to_src)
        self.duplicate(path_to_src, path_to_dest)
        self._delete_tree(path_to_src) if is_dir else self.delete(path_to_src)

    def _delete_tree(self, directory: str) -> None:
        for child, meta in self.get_directory_listing_with_metadata(directory).items():
            if meta["is_dir"]:
                self._delete_tree(child)
            else:
                self.delete(child)
        self.delete(directory, is_dir=True)

    # --- life cycle ----------------------------------------------------------------

    def get_configuration(self) -> dict[str, Any]:
        """Options shown in ``/.oiofs/config``, name -> value."""
        return {}

    def set_configuration(self, config: dict[str, Any]) -> None:
        """Change options at run time; unknown names raise :class:`StoreError`."""
        unknown = set(config) - set(self.get_configuration())
        if unknown:
            raise StoreError(f"unknown options: {sorted(unknown)}")

    def reconnect(self) -> None:
        """Try to reconnect to the service (a no-op for stores without a connection)."""

    def flush(self) -> None:
        """Make everything written so far durable in the store."""

    def close(self) -> None:
        """Release what the store holds (threads, connections); flushes first."""
        self.flush()
