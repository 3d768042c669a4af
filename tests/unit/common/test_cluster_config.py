import pytest

from oiofs.common import cluster_config, constraints
from oiofs.common.db.listing_format import max_listing_limit
from oiofs.common.db.server import metadata_limits_validator
from oiofs.common.exceptions import ConfigError, HTTPBadRequest, HTTPRequestEntityTooLarge
from oiofs.common.hashing import get_hash_path_secret
from oiofs.common.storage_policy import POLICIES
from tests.support.servers import write_cluster_conf


@pytest.fixture(autouse=True)
def _forget_loaded():
    cluster_config._loaded_cluster.clear()
    yield
    cluster_config._loaded_cluster.clear()
    constraints.load_constraints(constraints.DEFAULT_CONSTRAINTS)
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
    assert constraints.LIMITS.max_meta_count == 10
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


def test_constraints_override_reaches_modules_imported_before_it(tmp_path):
    """db.server and listing_format were imported (above) before oiofs.conf was loaded."""
    validate = metadata_limits_validator("container")
    three = {f"X-Container-Meta-K{i}": ("v", "1") for i in range(3)}
    validate(three)
    write_cluster_conf(str(tmp_path), """
        [constraints]
        max_meta_count = 2
        container_listing_limit = 7
        max_file_size = 100
        """)
    cluster_config.load_cluster_config(str(tmp_path))
    with pytest.raises(HTTPBadRequest, match="max 2"):
        validate(three)
    with pytest.raises(HTTPBadRequest, match="max 2"):
        constraints.check_metadata({k: v for k, (v, _) in three.items()}, "container")
    assert max_listing_limit("container") == 7
    assert constraints.max_header_count() == 2 + 36
    with pytest.raises(HTTPRequestEntityTooLarge):
        constraints.check_content_length({"Content-Length": "101"})


def test_a_bad_constraints_section_changes_nothing():
    with pytest.raises(ValueError, match="max_typo"):
        constraints.load_constraints({"max_meta_count": "3", "max_typo": "1"})
    with pytest.raises(ValueError, match="not an integer"):
        constraints.load_constraints({"max_meta_count": "3", "max_file_size": "big"})
    assert constraints.LIMITS.max_meta_count == constraints.DEFAULT_CONSTRAINTS["max_meta_count"]
