"""Versioned writes' sans-IO rules: container settings and version names."""

import pytest

from oiofs.common.exceptions import HTTPBadRequest, HTTPPreconditionFailed
from oiofs.proxy.container_info import ContainerInfo
from oiofs.proxy.middleware.version_names import (
    SYSMETA_LOCATION,
    SYSMETA_MODE,
    client_setting,
    container_setting,
    is_delete_marker,
    location_of,
    version_name,
)
from oiofs.proxy.middleware.versioned_writes import container_parts


def test_settings_from_client_headers():
    env = {"HTTP_X_HISTORY_LOCATION": "a%20b", "HTTP_X_VERSIONS_LOCATION": ""}
    assert container_setting(env) == {SYSMETA_LOCATION: "a%20b", SYSMETA_MODE: "history"}
    assert env == {}  # the client's headers never reach the container servers
    assert container_setting({"HTTP_X_REMOVE_VERSIONS_LOCATION": "x"}) == \
        {SYSMETA_LOCATION: "", SYSMETA_MODE: ""}
    assert container_setting({"HTTP_X_VERSIONS_LOCATION": " "}) == \
        {SYSMETA_LOCATION: "", SYSMETA_MODE: ""}
    assert container_setting({"HTTP_X_CONTAINER_META_A": "b"}) is None
    with pytest.raises(HTTPBadRequest):
        container_setting({"HTTP_X_HISTORY_LOCATION": "a", "HTTP_X_VERSIONS_LOCATION": "b"})
    with pytest.raises(HTTPPreconditionFailed):
        container_setting({"HTTP_X_VERSIONS_LOCATION": "a/b"})


def test_setting_shown_and_read_from_the_info_cache():
    headers = [("X-Container-Sysmeta-Versions-Location", "a%20b"),
               ("X-Container-Sysmeta-Versions-Mode", "stack"), ("X-Other", "1")]
    assert client_setting(headers) == [("X-Other", "1"), ("X-Versions-Location", "a b")]
    info = ContainerInfo.from_headers(204, {k.lower(): v for k, v in headers})
    assert location_of(info.sysmeta) == ("a b", "stack")
    assert location_of({}) is None


def test_version_names_and_markers():
    assert version_name("o", "1700000000.5") == "001o/1700000000.50000"
    assert version_name("\u00e9t\u00e9", "1.0").startswith("005\u00e9t\u00e9/")
    assert is_delete_marker("application/x-deleted; swift_versions_deleted=1")
    assert not is_delete_marker("application/x-deleted")
    assert container_parts({"PATH_INFO": "/v1/a/c"}) == ("v1", "a", "c")
    assert container_parts({"PATH_INFO": "/v1/a/c/o"}) is None
