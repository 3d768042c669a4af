""":class:`ChunkingStore`: the seed's chunk caching store.

A :class:`~oiofs.fs.caching_store.CachingStore` whose writers pack the small dirty files of
one directory together into a tar archive (a *chunk*) and upload it as one object,
``<dir>/.oiofs-chunk-<id>.tar``: a thousand 4 KiB files cost a few requests instead of a
thousand. A chunk is uploaded when its files add up to ``max_chunk_size_mb`` or when its
oldest file has waited ``max_time_to_upload`` seconds (or at once on ``sync``).

The map from files to chunks is local (:mod:`oiofs.fs.chunk_map`, sqlite in the cache
directory), as in the seed: listings hide chunk objects and show the files in them, reads
download the chunk once and fill the cache with all its current members. Deletes and
overwrites are recorded in the map; :meth:`ChunkingStore.collect_garbage` re-packs the live
members of chunks that are mostly stale and deletes those chunks.

Limitation (the seed's too): only a mount with this cache directory knows what the chunks
hold; another client sees the ``.tar`` objects, not the files.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
import time
from typing import Any

from oiofs.fs import paths
from oiofs.fs.cache_index import INLINE, Entry, is_directory
from oiofs.fs.caching_store import INLINE_MAX, LOG, CachingStore
from oiofs.fs.chunk_map import ChunkedFile, ChunkMap, is_chunk_name
from oiofs.fs.errors import NoSuchFilesystemObjectError
from oiofs.fs.stats import MB
from oiofs.fs.store import Metadata, Store

GC_INTERVAL = 30.0


class ChunkingStore(CachingStore):
    """A caching store that packs small files into tar chunks (see the module docstring).

    ``small_file_size``: files up to this many bytes are packed; bigger ones are uploaded
    alone.
    """

    def __init__(self, store: Store, cache_dir: str, *, max_chunk_size_mb: float = 4.0,
                 max_time_to_upload: float = 2.0, small_file_size: int = 256 * 1024,
                 **kwargs: Any) -> None:
        self.chunks = ChunkMap(cache_dir)
        self.max_chunk_size_mb = max_chunk_size_mb
        self.max_time_to_upload = max_time_to_upload
        self.small_file_size = small_file_size
        self._last_gc = time.monotonic()
        super().__init__(store, cache_dir, **kwargs)

    # --- what the store holds, as files ---------------------------------------------

    def _remote_listing(self, directory: str) -> dict[str, Metadata]:
        listing = self.listings.get(directory)
        if listing is None:
            raw = self._store_listing(directory)
            listing = {p: m for p, m in raw.items() if not is_chunk_name(paths.name(p))}
            for member in self.chunks.in_directory(directory):
                listing[member.filepath] = {"modified": member.modified,
                                            "bytes": member.size, "is_dir": False}
            self.listings.set(directory, listing)
        return listing

    def _store_metadata(self, path: str) -> Metadata:
        member = self.chunks.get(path)
        if member is not None:
            return {"modified": member.modified, "bytes": member.size, "is_dir": False}
        return self.store.get_metadata(path)

    def _download(self, path: str) -> Entry:
        member = self.chunks.get(path)
        if member is None:
            return super()._download(path)
        self._fill_from_chunk(member.chunk_id)
        entry = self.index.get(path)
        if entry is None:
            raise NoSuchFilesystemObjectError(f"{path} missing from its chunk")
        return entry

    def _fill_from_chunk(self, chunk_id: str, dirty: bool = False) -> None:
        """Download a chunk and cache its current members (clean, or dirty to re-pack)."""
        directory = self.chunks.chunk_directory(chunk_id)
        if directory is None:
            raise NoSuchFilesystemObjectError(f"unknown chunk {chunk_id}")
        members = {m.filepath: m for m in self.chunks.members(chunk_id)}
        with tempfile.TemporaryFile(dir=self.index.cache_dir) as tmp:
            self.stats.begin_download()
            count = 0
            try:
                count = self.store.read_into(self.chunks.chunk_path(directory, chunk_id), tmp)
            finally:
                self.stats.end_download(count)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp, mode="r:") as tar:
                for info in tar:
                    path = paths.join(directory, info.name)
                    if path not in members or not info.isfile() or "/" in info.name:
                        continue
                    with self._claim(path):
                        if self.index.get(path) is not None:
                            continue          # the cache has it (maybe newer)
                        small = info.size <= INLINE_MAX
                        new = self.index.new_entry(path, dirty=dirty, size=info.size,
                                                   in_store=True,
                                                   remote_modified=members[path].modified,
                                                   file=INLINE if small else None)
                        source = tar.extractfile(info)
                        assert source is not None
                        with source:
                            if small:                 # kept inline: no cache file
                                self.index.put(new, data=source.read())
                                continue
                            with open(self.index.data_path(new), "wb") as out:
                                while block := source.read(1 << 20):
                                    out.write(block)
                        self.index.put(new)

    # --- namespace changes reach the map --------------------------------------------

    def delete(self, path: str, is_dir: bool = False) -> None:
        member = self.chunks.get(path)
        if member is None:
            super().delete(path, is_dir)
            return
        with self._claim(path):
            self.index.remove(path)
            self.chunks.remove_file(path)      # its chunk has one more stale member
            self.listings.update(path, None)

    def move(self, path_to_src: str, path_to_dest: str) -> None:
        if self.chunks.get(path_to_src) is not None:
            self.local_file(path_to_src)       # cached, then moved as a dirty file
            with self._claim(path_to_src):
                self.index.touch(path_to_src, dirty=1, in_store=0)
                self.chunks.remove_file(path_to_src)
                self.listings.update(path_to_src, None)
            super().move(path_to_src, path_to_dest)
            return
        is_dir = self.get_metadata(path_to_src)["is_dir"]
        super().move(path_to_src, path_to_dest)
        if is_dir:
            self.chunks.rebase(path_to_src, path_to_dest)
        else:
            self.chunks.remove_file(path_to_dest)

    # --- the writers: pack small files ----------------------------------------------

    def _single_upload(self, entry: Entry) -> bool:
        return is_directory(entry) or entry.size > self.small_file_size

    def _schedule_packed(self, cutoff: float | None, force: bool, free: int) -> int:
        now = time.monotonic()
        limit = self.max_chunk_size_mb * MB
        # Files kept in the index's memory, changed after the cutoff, may be left out
        # (they join their directory's group when written to sqlite, soon enough).
        groups = self.index.dirty_groups(self.small_file_size, cutoff)
        for directory, count, total, oldest in groups:
            if free <= 0:
                break
            # A full chunk goes now; a partial one once its oldest file waited
            # max_time_to_upload and the upload cutoff allows it (writing in progress).
            if not (force or total >= limit
                    or (time.time() - oldest >= self.max_time_to_upload
                        and (cutoff is None or oldest <= cutoff))):
                continue
            batch: list[Entry] = []
            size = 0
            with self._lock:
                candidates = self.index.dirty_in(directory, self.small_file_size,
                                                 count if count < 10000 else 10000)
                for entry in candidates:
                    if not self._startable(entry.path, force, now):
                        continue
                    if batch and size + entry.size > limit:
                        break
                    batch.append(entry)
                    size += entry.size
                self._inflight.update(e.path for e in batch)
            if batch:
                free -= 1
                self._pool.submit(self._chunk_job, directory, [e.path for e in batch])
        if time.monotonic() - self._last_gc > GC_INTERVAL:
            self._last_gc = time.monotonic()
            self._pool.submit(self._gc_job)
        return free

    def _chunk_job(self, directory: str, members: list[str]) -> None:
        try:
            self._upload_chunk(directory, members)
        except Exception as exc:  # a writer thread must not die silently
            self.stats.add_exception(exc)
            LOG.warning("chunk upload in %s failed: %s", directory, exc)
        finally:
            with self._lock:
                self._inflight.difference_update(members)
                self._progress.notify_all()
            self._wake.set()

    def _upload_chunk(self, directory: str, members: list[str]) -> None:
        chunk_id = self.chunks.get_next_chunk_uuid()
        self._make_pending_parents(self.chunks.chunk_path(directory, chunk_id))
        with self._claim(*sorted(members)), \
                tempfile.TemporaryFile(dir=self.index.cache_dir) as tmp:
            packed: list[tuple[Entry, int]] = []
            with tarfile.open(fileobj=tmp, mode="w:") as tar:
                for path in members:
                    entry = self.index.get(path)
                    if entry is None or not entry.dirty:
                        continue
                    try:
                        with self.index.open_data(entry) as data:
                            info = tarfile.TarInfo(paths.name(path))
                            info.size = data.seek(0, os.SEEK_END)
                            info.mtime, info.mode = int(entry.modified), 0o644
                            data.seek(0)
                            tar.addfile(info, data)
                    except FileNotFoundError:
                        continue
                    packed.append((entry, info.size))
            if not packed:
                return
            size = tmp.tell()
            tmp.seek(0)
            started = time.monotonic()
            self.stats.begin_upload()
            try:
                self.store.store_fileobject(tmp, self.chunks.chunk_path(directory, chunk_id))
            finally:
                self.stats.end_upload(size)
            self.averages.add(size, time.monotonic() - started)
            # Versions stored alone before (not in a chunk) are removed once the chunk is in.
            plain = [e.path for e, _ in packed
                     if e.in_store and self.chunks.get(e.path) is None]
            now = time.time()
            self.chunks.put(chunk_id, directory,
                            [ChunkedFile(e.path, chunk_id, n, now) for e, n in packed])
            for path in plain:
                with contextlib.suppress(NoSuchFilesystemObjectError):
                    self.store.delete(path)
            for entry, count in packed:
                if self.index.mark_clean(entry.path, entry.generation, now):
                    self.listings.update(entry.path, {"modified": now, "bytes": count,
                                                      "is_dir": False})

    def _gc_job(self) -> None:
        try:
            self.collect_garbage()
        except Exception as exc:  # logged in the stats
            self.stats.add_exception(exc)

    def collect_garbage(self, stale_ratio: float = 0.5) -> int:
        """Re-pack the live members of mostly-stale chunks, delete those chunks.

        Returns how many chunks were deleted. The live members become dirty cache entries
        and go into new chunks with the next uploads.
        """
        removed = 0
        for chunk_id, directory, live in self.chunks.get_chunks_for_gc(stale_ratio):
            if live:
                self._fill_from_chunk(chunk_id, dirty=True)
                for member in self.chunks.members(chunk_id):
                    self.index.touch(member.filepath, dirty=1)
            with contextlib.suppress(NoSuchFilesystemObjectError):
                self.store.delete(self.chunks.chunk_path(directory, chunk_id))
            self.chunks.remove_chunk(chunk_id)
            removed += 1
        return removed

    def get_configuration(self) -> dict[str, Any]:
        return {**super().get_configuration(), "max_chunk_size_mb": self.max_chunk_size_mb,
                "max_time_to_upload": self.max_time_to_upload}
