import pytest

from oiofs.common import cluster_config, constraints
from oiofs.common.exceptions import ConfigError
from oiofs.common.hashing import get_hash_path_secret
from oiofs.common.storage_policy import POLICIES
from tests.support.servers import write_cluster_conf


@pytest.fixture(autouse=True)
def _forget_loaded():
    cluster_config._loaded_cluster.clear()
    yield
    cluster_config._loaded_cluster.clear()
    constraints.load_constraints({"max_meta_count": "90"})
    POLICIES.load({})


def test_cluster_config_sets_secret_constraints_and_policies(tmp_path):
    write_cluster_conf(str(tmp_path), """
        [constraints]
        max_meta_count = 10

        [storage-policy:0]
        name = gold

        [storage-policy:1]
        name = silver
        default = yes
        """)
    cluster_config.load_cluster_config(str(tmp_path))
    assert get_hash_path_secret() == (b"test-prefix", b"test-suffix")
    assert constraints.MAX_META_COUNT == 10
    assert POLICIES.default.name == "silver"
    assert POLICIES.get_by_index(1).ring_name == "object-1"
    assert POLICIES.get_by_index("0").get_diskfile_dir() == "objects"
    assert POLICIES.get_by_name("GOLD").idx == 0
    assert POLICIES.get_by_index(7) is None


def test_cluster_config_needs_secret(tmp_path):
    (tmp_path / "oiofs.conf").write_text("[hash]\n")
    with pytest.raises(ConfigError, match="hash_path"):
        cluster_config.load_cluster_config(str(tmp_path))


def test_cluster_config_refuses_unknown_constraint(tmp_path):
    write_cluster_conf(str(tmp_path), "[constraints]\nmax_typo = 3\n")
    with pytest.raises(ConfigError, match="max_typo"):
        cluster_config.load_cluster_config(str(tmp_path))


def test_missing_cluster_file(tmp_path):
    with pytest.raises(ConfigError):
        cluster_config.load_cluster_config(str(tmp_path))
    assert cluster_config.load_cluster_config(str(tmp_path), required=False) == {}
