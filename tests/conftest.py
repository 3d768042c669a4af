"""Fixtures shared by every suite: a cluster config directory with a test hash secret."""

import os

import pytest

from oiofs.common.hashing import set_hash_path_secret
from tests.support.servers import write_cluster_conf


@pytest.fixture
def oiofs_dir(tmp_path):
    """A directory holding ``oiofs.conf`` (test secret); rings may be written into it."""
    path = tmp_path / "etc"
    write_cluster_conf(str(path))
    return str(path)


@pytest.fixture(autouse=True)
def _hash_secret():
    """Unit tests hash with the same secret the test servers use."""
    set_hash_path_secret("test-prefix", "test-suffix")
    yield


@pytest.fixture
def devices(tmp_path):
    """A devices directory with one device ``sda`` (on the test tmp filesystem)."""
    path = tmp_path / "devices"
    os.makedirs(path / "sda")
    return str(path)
