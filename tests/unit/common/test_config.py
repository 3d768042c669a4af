import pytest

from oiofs.common import config
from oiofs.common.exceptions import ConfigError


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


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError):
        config.readconf(str(tmp_path / "nope.conf"), "x")


def test_readconf_merges_defaults(tmp_path):
    path = tmp_path / "s.conf"
    path.write_text("[DEFAULT]\ndevices = /srv\n\n[object-replicator]\ninterval = 5\n")
    conf = config.readconf(str(path), "object-replicator")
    assert conf["devices"] == "/srv" and conf["interval"] == "5"
    with pytest.raises(ConfigError):
        config.readconf(str(path), "nope")
