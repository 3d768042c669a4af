"""The sample config loads, documents every proxy option, and options are checked."""

import configparser
import dataclasses
import os
import re

import pytest

from oiofs.cli.allinone.configs import PROXY_PIPELINE
from oiofs.common.exceptions import ConfigError
from oiofs.proxy.middleware.dlo import DynamicLargeObject
from oiofs.proxy.middleware.slo import StaticLargeObject
from oiofs.proxy.middleware.tempauth import TempAuth
from oiofs.proxy.options import ProxyOptions

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "etc",
                      "proxy-server.conf.sample")


def sample_sections():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(SAMPLE)
    return parser


def test_sample_loads():
    parser = sample_sections()
    options = ProxyOptions.from_conf(dict(parser.items("app:proxy-server")))
    assert options.node_count(3) == 6
    assert options.error_suppression_time == 3.0
    auth = TempAuth(lambda env, start: [], dict(parser.items("filter:tempauth")))
    assert "test:tester" in auth.users
    pipeline = parser.get("pipeline:main", "pipeline").split()
    assert pipeline[:3] == ["admin", "gatekeeper", "healthcheck"]
    assert pipeline == PROXY_PIPELINE.split()  # the all-in-one runs the sample's pipeline
    for name in pipeline[:-1]:
        assert parser.get(f"filter:{name}", "use") == f"egg:oiofs#{name}"
    slo = StaticLargeObject(None, dict(parser.items("filter:slo")))
    assert (slo.max_manifest_segments, slo.min_segment_size) == (1000, 1)
    assert DynamicLargeObject(None, dict(parser.items("filter:dlo"))).max_get_time == 86400


def test_sample_documents_every_option():
    with open(SAMPLE) as handle:
        text = handle.read()
    documented = set(re.findall(r"(?m)^#? ?([a-z_]+) =", text))
    for field in dataclasses.fields(ProxyOptions):
        assert field.name in documented, field.name


def test_request_node_count_forms():
    assert ProxyOptions.from_conf({"request_node_count": "5"}).node_count(3) == 5
    assert ProxyOptions.from_conf({"request_node_count": "3 * replicas"}).node_count(2) == 6
    assert ProxyOptions.from_conf({"request_node_count": "1"}).node_count(3) == 3
    with pytest.raises(ConfigError):
        ProxyOptions.from_conf({"request_node_count": "lots"})


def test_bad_values_refused():
    with pytest.raises(ConfigError):
        ProxyOptions.from_conf({"node_timeout": "soon"})
    with pytest.raises(ConfigError):
        ProxyOptions.from_conf({"account_autocreate": "perhaps"})
