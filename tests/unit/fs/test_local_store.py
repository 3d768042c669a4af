"""LocalStore: the Store interface over a real directory."""

import io

import pytest

from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    InvalidPathValueError,
    NoSuchFilesystemObjectError,
)
from oiofs.fs.local_store import LocalStore


@pytest.fixture
def store(tmp_path):
    return LocalStore(str(tmp_path))


def test_store_read_list_delete(store):
    store.create_directory("/d")
    store.store_fileobject(io.BytesIO(b"hello"), "/d/a.txt")
    assert store.get_file("/d/a.txt") == b"hello"
    assert store.get_bytes("/d/a.txt") == 5
    assert store.is_dir("/d") and not store.is_dir("/d/a.txt")
    listing = store.get_directory_listing_with_metadata("/d")
    assert list(listing) == ["/d/a.txt"]
    assert listing["/d/a.txt"]["bytes"] == 5 and not listing["/d/a.txt"]["is_dir"]
    with pytest.raises(DirectoryNotEmptyError):
        store.delete("/d", is_dir=True)
    store.delete("/d/a.txt")
    store.delete("/d", is_dir=True)
    assert not store.exists("/d")


def test_errors(store):
    with pytest.raises(NoSuchFilesystemObjectError):
        store.get_file("/missing")
    with pytest.raises(NoSuchFilesystemObjectError):
        store.store_fileobject(io.BytesIO(b"x"), "/no/dir/file")
    store.create_directory("/d")
    with pytest.raises(AlreadyExistsError):
        store.create_directory("/d")
    for bad in ("relative", "/a/../b", "/a//b", "/a/", "/a/./b"):
        with pytest.raises(InvalidPathValueError):
            store.get_metadata(bad)


def test_move_and_duplicate_tree(store):
    store.create_directory("/src")
    store.create_directory("/src/sub")
    store.store_fileobject(io.BytesIO(b"1"), "/src/sub/f")
    store.duplicate("/src", "/copy")
    store.move("/src", "/moved")
    assert store.get_file("/copy/sub/f") == b"1"
    assert store.get_file("/moved/sub/f") == b"1"
    assert not store.exists("/src")
