"""Async pendings: durable JSON files named after the object hash and timestamp."""

import json
import os

import pytest

from oiofs.common.storage_policy import ReplicationPolicy
from oiofs.obj.async_pending import (
    async_pending_path,
    read_async_pending,
    write_async_pending,
)

UPDATE = {"op": "PUT", "account": "a", "container": "c", "obj": "ö/x",
          "headers": {"X-Timestamp": "1700000000.00000", "X-Size": "3"}}
HASH = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("policy, dirname", [(ReplicationPolicy(0, "p0"), "async_pending"),
                                             (ReplicationPolicy(2, "p2"), "async_pending-2")])
def test_write_and_read(tmp_path, policy, dirname):
    device = str(tmp_path / "sda")
    os.makedirs(device)
    path = write_async_pending(device, policy, HASH, "1700000000.00000", UPDATE)
    assert path == async_pending_path(device, policy, HASH, "1700000000.00000")
    assert path == os.path.join(device, dirname, "def", f"{HASH}-1700000000.00000")
    assert read_async_pending(path) == UPDATE
    # nothing but the pending itself is left in its directory (no temporary file)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]
    # writing the same update again is harmless
    write_async_pending(device, policy, HASH, "1700000000.00000", UPDATE)
    assert read_async_pending(path) == UPDATE


@pytest.mark.parametrize("content", [b"[]", b'{"op": "PUT"}', b"garbage"])
def test_invalid_pendings_are_refused(tmp_path, content):
    path = tmp_path / "p"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_async_pending(str(path))


def test_json_on_disk(tmp_path):
    device = str(tmp_path / "sda")
    os.makedirs(device)
    path = write_async_pending(device, ReplicationPolicy(0, "p"), HASH, "1.00000", UPDATE)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == UPDATE
