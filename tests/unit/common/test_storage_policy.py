import pytest

from oiofs.common.exceptions import ConfigError
from oiofs.common.storage_policy import (
    ECPolicy,
    ReplicationPolicy,
    StoragePolicyCollection,
    available_ec_types,
)

EC42 = {"name": "ec42", "policy_type": "erasure_coding", "ec_num_data_fragments": "4",
        "ec_num_parity_fragments": "2"}


def load(**sections):
    policies = StoragePolicyCollection()
    policies.load({f"storage-policy:{k[1:]}": v for k, v in sections.items()})
    return policies


def test_replication_and_ec_policies_with_aliases_and_defaults():
    policies = load(p0={"name": "gold", "aliases": "yellow, Gold, orange"},
                    p1=dict(EC42, ec_object_segment_size="65536"))
    gold, ec = policies.get_by_index(0), policies.get_by_index(1)
    assert isinstance(gold, ReplicationPolicy) and isinstance(ec, ECPolicy)
    assert policies.default is gold
    assert policies.get_by_name("ORANGE") is gold and policies.get_by_name("ec42") is ec
    assert gold.aliases == ["yellow", "orange"]
    assert (ec.ec_ndata, ec.ec_nparity, ec.ec_segment_size) == (4, 2, 65536)
    assert ec.ec_type in available_ec_types()
    assert ec.node_count == 6 and ec.quorum(6) == 5 and gold.quorum(3) == 2
    assert [ec.frag_index(s) for s in range(6)] == [0, 1, 2, 3, 4, 5]
    info = ec.info()
    assert info["ec_num_data_fragments"] == 4 and info["policy_type"] == "erasure_coding"
    assert gold.info()["aliases"] == "gold, yellow, orange"


def test_ec_defaults_and_duplication():
    ec = load(p0={"name": "gold"}, p2=dict(EC42, ec_duplication_factor="2")).by_index[2]
    assert ec.ec_segment_size == 1024 * 1024
    assert ec.node_count == 12 and ec.quorum(12) == 10
    assert ec.frag_index(7) == 1
    assert ec.fragment_size > ec.ec_segment_size // 4  # pyeclib's header on top


@pytest.mark.parametrize("change, option", [
    ({"ec_type": "no_such_code"}, "ec_type"),
    ({"ec_num_data_fragments": "0"}, "ec_num_data_fragments"),
    ({"ec_num_parity_fragments": "-1"}, "ec_num_parity_fragments"),
    ({"ec_num_parity_fragments": ""}, "ec_num_parity_fragments"),
    ({"ec_object_segment_size": "big"}, "ec_object_segment_size"),
    ({"ec_duplication_factor": "0"}, "ec_duplication_factor"),
    ({"ec_segment": "5"}, "ec_segment"),
    ({"policy_type": "mirror"}, "policy_type"),
])
def test_bad_ec_options_are_refused_naming_the_option(change, option):
    with pytest.raises(ConfigError, match=option):
        load(p0={"name": "gold"}, p1=dict(EC42, **change))


def test_pyeclib_refusing_the_code_is_a_config_error():
    # flat XOR codes exist only for a few (k, m) pairs
    with pytest.raises(ConfigError, match="pyeclib cannot build"):
        load(p0={"name": "gold"}, p1=dict(EC42, ec_type="flat_xor_hd_3",
                                          ec_num_data_fragments="40"))


def test_names_flags_and_ring_checks():
    with pytest.raises(ConfigError, match="duplicate policy name yellow"):
        load(p0={"name": "gold", "aliases": "yellow"}, p1={"name": "yellow"})
    with pytest.raises(ConfigError, match="deprecated"):
        load(p0={"name": "gold", "default": "yes", "deprecated": "yes"})
    with pytest.raises(ConfigError, match="ec_num_data_fragments"):
        load(p0={"name": "gold", "ec_num_data_fragments": "4"})  # not for replication
    ec = load(p0={"name": "gold"}, p1=EC42).by_index[1]
    ec.check_ring_replicas(6)
    with pytest.raises(ConfigError, match="object-1.ring.gz has 3 replicas"):
        ec.check_ring_replicas(3)
    ReplicationPolicy(0, "gold").check_ring_replicas(3)
