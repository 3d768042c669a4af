import pytest

from oiofs.common import config, constraints
from oiofs.common.exceptions import ConfigError
from oiofs.common.hashing import get_hash_path_secret
from oiofs.common.storage_policy import POLICIES
from tests.support.servers import write_cluster_conf


@pytest.fixture(autouse=True)
def _forget_loaded():
    config._loaded_cluster.clear()
    yield
    config._loaded_cluster.clear()
    constraints.load_constraints({"max_meta_count": "90"})
    POLICIES.load({})


def test_typed_options():
    conf = {"a": "yes", "b": "off", "n": "12", "f": "0.5", "l": " x, y ,,z"}
    assert config.conf_bool(conf, "a", False) is True
    assert config.conf_bool(conf, "b", True) is False
    assert config.conf_bool(conf, "missing", True) is True
    assert config.conf_int(conf, "n", 0) == 12
    assert config.conf_float(conf, "f", 0) == 0.5
    assert config.conf_list(conf, "l") == ["x", "y", "z"]
    with pytest.raises(ConfigError):
        config.conf_int({"n": "x"}, "n", 0)
    with pytest.raises(ConfigError):
        config.conf_int({"n": "1"}, "n", 0, minimum=2)
    with pytest.raises(ConfigError):
        config.conf_bool({"b": "maybe"}, "b", True)


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
    config.load_cluster_config(str(tmp_path))
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
        config.load_cluster_config(str(tmp_path))


def test_cluster_config_refuses_unknown_constraint(tmp_path):
    write_cluster_conf(str(tmp_path), "[constraints]\nmax_typo = 3\n")
    with pytest.raises(ConfigError, match="max_typo"):
        config.load_cluster_config(str(tmp_path))


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError):
        config.load_cluster_config(str(tmp_path))
    assert config.load_cluster_config(str(tmp_path), required=False) == {}
    with pytest.raises(ConfigError):
        config.readconf(str(tmp_path / "nope.conf"), "x")


def test_readconf_merges_defaults(tmp_path):
    path = tmp_path / "s.conf"
    path.write_text("[DEFAULT]\ndevices = /srv\n\n[object-replicator]\ninterval = 5\n")
    conf = config.readconf(str(path), "object-replicator")
    assert conf["devices"] == "/srv" and conf["interval"] == "5"
    with pytest.raises(ConfigError):
        config.readconf(str(path), "nope")
