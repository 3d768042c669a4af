"""ObjectStore and oiofs-mount over a real cluster, checked through the HTTP API."""

import errno
import io
import os

import pytest

from oiofs.client import Connection
from oiofs.fs.caching_store import CachingStore
from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    NoSuchFilesystemObjectError,
)
from oiofs.fs.object_store import ObjectStore
from tests.support.fuse import mounted

USER, KEY = "test:tester", "testing"


@pytest.fixture
def conn(cluster):
    connection = Connection(cluster.auth_url, USER, cluster.users[USER])
    yield connection
    connection.close()


def names(conn, container):
    return sorted(o["name"] for o in conn.list_objects(container))


class CountingConnection(Connection):
    """A real Connection that counts the requests it makes, by method."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    def request(self, method, container=None, obj=None, **kwargs):
        self.requests.append((method, obj))
        return super().request(method, container, obj, **kwargs)


def test_object_store_contract(conn, request):
    container = f"fs-{request.node.name}"
    store = ObjectStore(conn, container)
    store.create_directory("/d")
    with pytest.raises(AlreadyExistsError):
        store.create_directory("/d")
    store.create_directory("/d/empty")
    store.store_fileobject(io.BytesIO(b"hello"), "/d/a.txt")
    listing = store.get_directory_listing_with_metadata("/d")
    assert sorted(listing) == ["/d/a.txt", "/d/empty"]
    assert listing["/d/a.txt"]["bytes"] == 5 and listing["/d/empty"]["is_dir"]
    assert store.get_file("/d/a.txt") == b"hello"
    assert store.get_metadata("/d/a.txt")["modified"] > 0
    with pytest.raises(DirectoryNotEmptyError):
        store.delete("/d", is_dir=True)
    store.move("/d", "/e")
    assert names(conn, container) == ["e/", "e/a.txt", "e/empty/"]
    store.move("/e/a.txt", "/e/b.txt")
    store.delete("/e/b.txt")
    store.delete("/e/empty", is_dir=True)
    store.delete("/e", is_dir=True)
    assert names(conn, container) == []
    with pytest.raises(NoSuchFilesystemObjectError):
        store.get_file("/e/b.txt")
    with pytest.raises(NoSuchFilesystemObjectError):
        store.get_directory_listing_with_metadata("/nowhere")


def test_directories_of_other_tools_are_read(conn, request):
    container = f"fs-{request.node.name}"
    conn.put_container(container)
    conn.put_object(container, "implicit/file", b"1")      # no marker at all
    conn.put_object(container, "swiftdir", b"", content_type="application/directory")
    store = ObjectStore(conn, container)
    root = store.get_directory_listing_with_metadata("/")
    assert root["/implicit"]["is_dir"] and root["/swiftdir"]["is_dir"]
    assert store.is_dir("/implicit") and store.is_dir("/swiftdir")


def test_ls_l_costs_one_listing_request(cluster, tmp_path, request):
    container = f"fs-{request.node.name}"
    counting = CountingConnection(cluster.auth_url, USER, cluster.users[USER])
    store = CachingStore(ObjectStore(counting, container), str(tmp_path / "cache"),
                         start=False)
    try:
        store.create_directory("/d")
        for i in range(30):
            store.store_fileobject(io.BytesIO(b"x" * i), f"/d/f{i}")
        store.sync()
        store.listings.clear()
        assert store.get_metadata("/d")["is_dir"]       # the lookup of /d (lists /)
        counting.requests.clear()
        for path in store.get_directory_listing_with_metadata("/d"):    # ls -l
            store.get_metadata(path)
        assert counting.requests == [("GET", None)]     # one container listing, no HEADs
        for entry in store.index.all():                  # a cold cache
            store.index.remove(entry.path)
        counting.requests.clear()
        assert store.get_file("/d/f3") == b"xxx"
        assert counting.requests == [("GET", "d/f3")]   # size and time from the listing
    finally:
        store.close()


def test_mkdir_is_written_back_as_one_put_per_directory(cluster, conn, tmp_path, request):
    container = f"fs-{request.node.name}"
    counting = CountingConnection(cluster.auth_url, USER, cluster.users[USER])
    store = CachingStore(ObjectStore(counting, container), str(tmp_path / "cache"),
                         start=False)
    try:
        counting.requests.clear()
        store.create_directory("/top")         # the root's listing is not cached: listed
        assert counting.requests == [("GET", None)]
        assert store.get_metadata("/top")["is_dir"]     # the kernel's lookup: no request
        counting.requests.clear()
        store.create_directory("/top/a")       # /top is new: nothing to ask the store
        store.store_fileobject(io.BytesIO(b"x"), "/top/a/f")
        assert counting.requests == []
        assert store.get_pending_directories() == ["/top", "/top/a"]
        assert names(conn, container) == []
        with pytest.raises(AlreadyExistsError):
            store.create_directory("/top/a")   # the cache has it
        assert sorted(store.get_directory_listing("/top")) == ["/top/a"]
        store.listings.clear()                 # listings expired: a waiting directory
        assert store.get_directory_listing("/top/a") == ["/top/a/f"]    # lists as empty
        assert counting.requests == []         # in the store without asking it
        store.sync()
        # Each directory is one PUT of its marker, the outer one first, no check.
        puts = [name for method, name in counting.requests if method == "PUT"]
        assert puts[:2] == ["top/", "top/a/"] and sorted(puts) == ["top/", "top/a/",
                                                                    "top/a/f"]
        assert [m for m, _ in counting.requests] == ["PUT", "PUT", "PUT"]
        assert store.get_pending_directories() == []
        assert names(conn, container) == ["top/", "top/a/", "top/a/f"]
        store.listings.clear()
        with pytest.raises(AlreadyExistsError):
            store.create_directory("/top/a")   # nothing cached: the listing shows it
        counting.requests.clear()
        assert store.store.get_directory_listing_with_metadata("/top/a") == {
            "/top/a/f": store.store.get_metadata("/top/a/f")}
        store.store_fileobject(io.BytesIO(b"x"), "/top/g")     # dirty, not uploaded
        with pytest.raises(AlreadyExistsError):
            store.create_directory("/top/g")   # a file of the cache is there
    finally:
        store.close()


def test_pending_directories_are_renamed_and_removed_in_the_store(cluster, conn, tmp_path,
                                                                  request):
    container = f"fs-{request.node.name}"
    store = CachingStore(ObjectStore(conn, container), str(tmp_path / "cache"), start=False)
    try:
        store.create_directory("/a")
        store.create_directory("/a/b")
        store.store_fileobject(io.BytesIO(b"data"), "/a/b/f")
        store.create_directory("/gone")
        store.delete("/gone", is_dir=True)     # never reaches the store
        store.move("/a", "/c")                 # made in the store first, then moved
        assert store.get_pending_directories() == []
        assert names(conn, container) == ["c/", "c/b/", "c/b/f"]
        store.create_directory("/c/new")
        with pytest.raises(DirectoryNotEmptyError):
            store.delete("/c", is_dir=True)
        store.sync()
        assert names(conn, container) == ["c/", "c/b/", "c/b/f", "c/new/"]
    finally:
        store.close()


def test_mount_tree_reaches_the_cluster_and_a_second_mount(cluster, conn, tmp_path, request):
    container = f"fs-{request.node.name}"
    args = [cluster.auth_url, container, "--user", USER, "--key", cluster.users[USER]]
    with mounted(str(tmp_path / "mnt"), *args[:2], *args[2:],
                 "--cache-dir", str(tmp_path / "cache")) as m:
        os.makedirs(m.path("a/b"))
        os.mkdir(m.path("a/empty"))            # reaches the store at unmount, as a marker
        os.mkdir(m.path("a/gone"))
        os.rmdir(m.path("a/gone"))             # never reaches it
        for i in range(10):
            with open(m.path("a/b", f"f{i}"), "wb") as f:
                f.write(b"%d" % i * 100)
        os.rename(m.path("a/b/f1"), m.path("a/b/renamed"))
        with open(m.path("a/b/f2"), "wb") as f:
            f.write(b"overwritten")
        os.truncate(m.path("a/b/f3"), 10)
        os.unlink(m.path("a/b/f4"))
        os.rename(m.path("a/b"), m.path("a/c"))
        with pytest.raises(OSError) as info:
            os.rmdir(m.path("a"))
        assert info.value.errno == errno.ENOTEMPTY
    assert names(conn, container) == sorted(
        ["a/", "a/c/", "a/c/renamed", "a/c/f0", "a/c/f2", "a/c/f3", "a/c/f5", "a/c/f6",
         "a/c/f7", "a/c/f8", "a/c/f9", "a/empty/"])
    assert b"".join(conn.get_object(container, "a/c/f2")) == b"overwritten"
    assert b"".join(conn.get_object(container, "a/c/f3")) == b"3" * 10
    with mounted(str(tmp_path / "mnt2"), *args, "--cache-dir", str(tmp_path / "cache2")) as m2:
        assert sorted(os.listdir(m2.path("a/c"))) == sorted(
            ["renamed", "f0", "f2", "f3", "f5", "f6", "f7", "f8", "f9"])
        assert open(m2.path("a/c/renamed"), "rb").read() == b"1" * 100
        assert sorted(os.listdir(m2.path("a"))) == ["c", "empty"]


def test_killed_mount_files_arrive_after_remount(cluster, conn, tmp_path, request):
    container = f"fs-{request.node.name}"
    args = [cluster.auth_url, container, "--user", USER, "--key", cluster.users[USER],
            "--cache-dir", str(tmp_path / "cache")]
    mnt = str(tmp_path / "mnt")
    with mounted(mnt, *args, "--upload-delay", "3600") as m:
        with open(m.path("fsynced"), "wb") as f:
            f.write(b"durable")
            os.fsync(f.fileno())
        os.mkdir(m.path("newdir"))             # kept in the cache index, not sent yet
        fd = os.open(m.mountpoint, os.O_RDONLY)
        try:
            os.fsync(fd)                       # fsyncdir
        finally:
            os.close(fd)
        m.kill()
    assert names(conn, container) == []
    with mounted(mnt, *args):
        pass
    assert b"".join(conn.get_object(container, "fsynced")) == b"durable"
    assert names(conn, container) == ["fsynced", "newdir/"]
