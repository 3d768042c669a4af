"""ChunkingStore over a LocalStore: small files packed into tar chunks, read back, GC."""

import io
import os
import tarfile

import pytest

from oiofs.fs.chunking_store import ChunkingStore
from oiofs.fs.errors import NoSuchFilesystemObjectError
from oiofs.fs.local_store import LocalStore


@pytest.fixture
def backing(tmp_path):
    os.makedirs(tmp_path / "backing")
    return LocalStore(str(tmp_path / "backing"))


def chunking(backing, path, **kw):
    return ChunkingStore(backing, str(path), start=False, small_file_size=1000, **kw)


def chunk_objects(backing, directory):
    return [p for p in backing.get_directory_listing(directory) if p.endswith(".tar")]


def test_small_files_become_one_chunk_big_ones_stay_alone(backing, tmp_path):
    store = chunking(backing, tmp_path / "cache")
    store.create_directory("/d")
    store.create_directory("/d/sub")          # a new directory is no chunk member
    for i in range(20):
        store.store_fileobject(io.BytesIO(b"%03d" % i), f"/d/f{i}")
    store.store_fileobject(io.BytesIO(b"B" * 5000), "/d/big")
    store.sync()
    assert sorted(backing.get_directory_listing("/d"))[0] == "/d/.oiofs-chunk-" + \
        chunk_objects(backing, "/d")[0].split("-chunk-")[1]
    assert len(chunk_objects(backing, "/d")) == 1
    assert backing.get_file("/d/big") == b"B" * 5000
    assert backing.is_dir("/d/sub") and store.get_pending_directories() == []
    with tarfile.open(backing.root + chunk_objects(backing, "/d")[0]) as tar:
        assert sorted(tar.getnames()) == sorted(f"f{i}" for i in range(20))
    listing = store.get_directory_listing("/d")
    assert listing == sorted(["/d/big", "/d/sub", *(f"/d/f{i}" for i in range(20))])


def test_reads_come_from_the_chunk_after_a_restart(backing, tmp_path):
    store = chunking(backing, tmp_path / "cache")
    for i in range(5):
        store.store_fileobject(io.BytesIO(b"v%d" % i), f"/f{i}")
    store.sync()
    for entry in store.index.all():                 # drop the cached copies
        store.index.remove(entry.path)
    assert store.get_file("/f3") == b"v3"
    assert store.get_cache_misses() == 1
    assert store.get_file("/f4") == b"v4"           # filled by the same chunk download
    assert store.get_cache_hits() == 1


def test_overwrite_delete_and_garbage_collection(backing, tmp_path):
    store = chunking(backing, tmp_path / "cache")
    for i in range(4):
        store.store_fileobject(io.BytesIO(b"old%d" % i), f"/f{i}")
    store.sync()
    first = chunk_objects(backing, "/")
    store.store_fileobject(io.BytesIO(b"new0"), "/f0")
    store.store_fileobject(io.BytesIO(b"new1"), "/f1")
    store.delete("/f2")
    store.sync()
    assert store.get_file("/f0") == b"new0"
    with pytest.raises(NoSuchFilesystemObjectError):
        store.get_file("/f2")
    assert store.collect_garbage() == 1            # 3 of 4 members stale
    store.sync()
    assert first[0] not in chunk_objects(backing, "/")
    for entry in store.index.all():
        store.index.remove(entry.path)
    assert store.get_file("/f3") == b"old3"
    assert store.get_file("/f0") == b"new0"
    assert sorted(store.get_directory_listing("/")) == ["/f0", "/f1", "/f3"]


def test_rename_of_chunked_file_and_directory(backing, tmp_path):
    store = chunking(backing, tmp_path / "cache")
    store.create_directory("/d")
    store.store_fileobject(io.BytesIO(b"a"), "/d/a")
    store.store_fileobject(io.BytesIO(b"b"), "/d/b")
    store.sync()
    store.move("/d/a", "/d/c")
    store.move("/d", "/e")
    store.sync()
    for entry in store.index.all():
        store.index.remove(entry.path)
    store.listings.clear()
    assert store.get_directory_listing("/e") == ["/e/b", "/e/c"]
    assert store.get_file("/e/c") == b"a" and store.get_file("/e/b") == b"b"
