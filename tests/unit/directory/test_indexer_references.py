"""The db-indexer publishes each volume as a reference of the directory (a real directory
server in a thread, real container databases on disk)."""

import os

import pytest

from oiofs.common.db.broker import db_dir_for
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.directory.client import DirectoryClient
from oiofs.directory.indexer import INDEX_LINK_TYPE, VOLUMES_ACCOUNT, Meta2Indexer
from oiofs.directory.store import SqliteStore
from tests.support.directory_server import DirectoryThread


@pytest.fixture
def devices(tmp_path):
    root = tmp_path / "devices"
    for device, containers in (("sda", ["c1", "c2"]), ("sdb", ["c3"])):
        os.makedirs(root / device)
        for number, name in enumerate(containers):
            _dir, db_file = db_dir_for(str(root), device, "containers", number, "a", name)
            broker = ContainerBroker(db_file, account="a", container=name)
            broker.initialize(Timestamp(1000).internal, storage_policy_index=0)
    return str(root)


def test_each_volume_is_a_reference_linked_to_its_index(tmp_path, devices):
    with DirectoryThread(SqliteStore(str(tmp_path / "d.db"))) as directory:
        conf = {"devices": devices, "directory_endpoints": directory.url,
                "bind_ip": "127.0.0.1", "bind_port": "6201"}
        assert Meta2Indexer(conf).run_once().bases == 3
        client = DirectoryClient(endpoints=[directory.url])
        for device, count in (("sda", 2), ("sdb", 1)):
            reference = f"127.0.0.1:6201/{device}"
            props = client.get_properties(VOLUMES_ACCOUNT, reference)["properties"]
            assert props["bases"] == str(count)
            assert props["index"] == os.path.join(devices, device, "db-index.json")
            links = client.list(VOLUMES_ACCOUNT, reference)["srv"]
            assert [(s["type"], s["host"], s["args"]) for s in links] == \
                [(INDEX_LINK_TYPE, "127.0.0.1:6201", device)]
        # a second pass updates the reference instead of failing on it
        _dir, db_file = db_dir_for(devices, "sdb", "containers", 5, "a", "c4")
        ContainerBroker(db_file, account="a", container="c4").initialize(
            Timestamp(1001).internal, storage_policy_index=0)
        Meta2Indexer(conf).run_once()
        props = client.get_properties(VOLUMES_ACCOUNT, "127.0.0.1:6201/sdb")["properties"]
        assert props["bases"] == "2"
        assert len(client.list(VOLUMES_ACCOUNT, "127.0.0.1:6201/sdb")["srv"]) == 1


def test_a_directory_down_does_not_fail_the_pass(devices):
    conf = {"devices": devices, "directory_endpoints": "http://127.0.0.1:9",
            "directory_timeout": "0.5"}
    stats = Meta2Indexer(conf).run_once()
    assert stats.bases == 3 and stats.errors == 0
    assert os.path.exists(os.path.join(devices, "sda", "db-index.json"))
