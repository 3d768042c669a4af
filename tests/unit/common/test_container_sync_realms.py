"""Realms file, sync-to values and container-sync signatures (sans-IO)."""

import pytest

from oiofs.common.container_sync_realms import (
    ContainerSyncRealms,
    SyncToError,
    get_sig,
    make_nonce,
    nonce_age,
    parse_realms,
    resolve_sync_to,
    signatures_match,
)

REALMS = """\
[US]
key = k1
key2 = k2
cluster_east = http://127.0.0.1:8080/v1/
cluster_west = https://west.example/v1
"""


def test_realms_are_read_with_their_keys_and_clusters():
    realms = parse_realms(REALMS)
    assert realms["US"].key == "k1" and realms["US"].key2 == "k2"
    assert realms["US"].clusters == {"EAST": "http://127.0.0.1:8080/v1/",
                                     "WEST": "https://west.example/v1"}


@pytest.mark.parametrize("text", ["[r]\ncluster_a = http://x/v1/\n",
                                  "[r]\nkey = k\ncluster_a = ftp://x/\n"])
def test_a_realm_without_key_or_with_a_bad_endpoint_is_refused(text):
    with pytest.raises(ValueError):
        parse_realms(text)


def test_the_realms_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "container-sync-realms.conf"
    now = [0.0]
    realms = ContainerSyncRealms(str(path), clock=lambda: now[0])
    assert realms.realms() == {}
    path.write_text(REALMS)
    now[0] += 2
    assert realms.endpoint("us", "east") == "http://127.0.0.1:8080/v1/"
    path.write_text("[broken\n")
    import os
    os.utime(path, (1, 1))
    now[0] += 2
    assert realms.get("US") is not None  # the last good realms stay
    assert realms.error


def test_realm_values_resolve_to_the_cluster_endpoint():
    target = resolve_sync_to("//us/EAST/AUTH_b/c2", parse_realms(REALMS))
    assert target.url == "http://127.0.0.1:8080/v1/AUTH_b/c2"
    assert target.path == "/v1/AUTH_b/c2"
    assert target.realm is not None and target.realm.name == "US"


@pytest.mark.parametrize("value, reason", [
    ("//us/east/AUTH_b", "Invalid X-Container-Sync-To format"),
    ("//eu/east/AUTH_b/c", "No realm key"),
    ("//us/north/AUTH_b/c", "No cluster endpoint"),
    ("ftp://127.0.0.1/v1/a/c", "Invalid scheme"),
    ("http://127.0.0.1/", "Path required"),
    ("http://10.9.9.9:8080/v1/a/c", "Invalid host"),
    ("elsewhere", "Invalid scheme"),
])
def test_bad_sync_to_values_say_why(value, reason):
    with pytest.raises(SyncToError) as caught:
        resolve_sync_to(value, parse_realms(REALMS))
    assert reason in str(caught.value)


def test_full_urls_need_an_allowed_host_and_may_be_turned_off():
    assert resolve_sync_to("http://127.0.0.1:9/v1/a/c", {}).realm is None
    with pytest.raises(SyncToError):
        resolve_sync_to("http://127.0.0.1:9/v1/a/c", {}, allow_full_urls=False)
    assert resolve_sync_to("http://h:9/v1/a/c", {}, allowed_sync_hosts=["h"]).url == \
        "http://h:9/v1/a/c"


def test_signatures_check_method_path_timestamp_nonce_and_both_keys():
    realm = parse_realms(REALMS)["US"]
    nonce = make_nonce(1000.0)
    sig = get_sig("PUT", "/v1/a/c/o", "1.00000", nonce, "k2", "user")
    assert signatures_match(sig, "PUT", "/v1/a/c/o", "1.00000", nonce, realm, "user")
    for changed in [("DELETE", "/v1/a/c/o", "1.00000", nonce, "user"),
                    ("PUT", "/v1/a/c/p", "1.00000", nonce, "user"),
                    ("PUT", "/v1/a/c/o", "2.00000", nonce, "user"),
                    ("PUT", "/v1/a/c/o", "1.00000", make_nonce(1000.0), "user"),
                    ("PUT", "/v1/a/c/o", "1.00000", nonce, "other")]:
        assert not signatures_match(sig, *changed[:4], realm, changed[4])


def test_nonces_carry_their_age():
    assert nonce_age(make_nonce(100.0), now=130.0) == 30.0
    assert nonce_age("deadbeef", now=1.0) is None
    assert nonce_age("x-1", now=1.0) is None
