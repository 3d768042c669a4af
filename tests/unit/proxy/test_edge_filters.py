"""domain_remap, list_endpoints and crossdomain logic (sans-IO)."""

import pytest
from lxml import etree

from oiofs.common.exceptions import HTTPBadRequest
from oiofs.proxy.middleware.crossdomain import policy_document
from oiofs.proxy.middleware.domain_remap import RemapConfig, remap
from oiofs.proxy.middleware.list_endpoints import endpoint_urls, parse_endpoints_path

CONFIG = RemapConfig({"storage_domain": "example.com, storage.test",
                      "reseller_prefixes": "AUTH, SERVICE"})


@pytest.mark.parametrize("host, path, new", [
    ("auth-test.example.com", "/c/o", "/v1/AUTH_test/c/o"),
    ("AUTH-test.example.com:8080", "/", "/v1/AUTH_test/"),
    ("site.auth-test.example.com", "/", "/v1/AUTH_test/site/"),
    ("site.service_x.storage.test.", "/a/b", "/v1/SERVICE_x/site/a/b"),
    ("example.com", "/v1/AUTH_test", None),              # the domain itself
    ("plain.example.com", "/c", None),                   # no reseller prefix
    ("a.b.auth-test.example.com", "/c", None),           # too many labels
    ("auth-test.example.org", "/c", None),
    ("evil-example.com", "/c", None),
])
def test_remap(host, path, new):
    assert remap(host, path, CONFIG) == new


def test_default_prefix_and_mangled_paths():
    config = RemapConfig({"default_reseller_prefix": "AUTH", "mangle_client_paths": "yes"})
    assert remap("test.example.com", "/v1/c/o", config) == "/v1/AUTH_test/c/o"
    assert remap("c.test.example.com", "/v1", config) == "/v1/AUTH_test/c"
    assert remap("test.example.com", "/v1/c", RemapConfig({"default_reseller_prefix": "AUTH"})
                 ) == "/v1/AUTH_test/v1/c"


def test_endpoints_paths_and_urls():
    assert parse_endpoints_path("v2/a") == (2, "a", None, None)
    assert parse_endpoints_path("a/c/o%2Fx") == (1, "a", "c", "o/x")
    for bad in ("", "v2/", "a//o"):
        with pytest.raises(HTTPBadRequest):
            parse_endpoints_path(bad)
    nodes = [{"ip": "10.0.0.1", "port": 6200, "device": "sda"},
             {"ip": "::1", "port": 6200, "device": "sdb"}]
    assert endpoint_urls(nodes, 7, "AUTH_a", "c/d?", "o b/c") == [
        "http://10.0.0.1:6200/sda/7/AUTH_a/c%2Fd%3F/o%20b/c",
        "http://[::1]:6200/sdb/7/AUTH_a/c%2Fd%3F/o%20b/c"]


def test_crossdomain_document_is_xml_with_the_policy_lines():
    doc = etree.fromstring(policy_document(
        '<allow-access-from domain="a.org" />\n   <allow-access-from domain="b.org" />'))
    assert [e.get("domain") for e in doc] == ["a.org", "b.org"]
