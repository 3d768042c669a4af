"""A request that needs a feature oiofs has not built gets 501 and stores nothing."""


import pytest

from tests.support.proxy_client import unique


@pytest.mark.parametrize("header", ["X-Versions-Enabled"])
def test_container_feature_headers_are_refused_and_nothing_is_created(client, header):
    name = unique("unsup")
    resp = client.request("PUT", f"/{name}", headers={header: "elsewhere"})
    assert resp.status == 501
    assert b"not available" in resp.body
    assert client.request("HEAD", f"/{name}").status == 404


def test_container_setting_is_refused_and_existing_metadata_kept(client):
    name = unique("unsup")
    assert client.request("PUT", f"/{name}", headers={"X-Container-Meta-Color": "blue"}
                          ).status == 201
    resp = client.request("POST", f"/{name}", headers={"X-Versions-Enabled": "true",
                                                       "X-Container-Meta-Color": "red"})
    assert resp.status == 501
    head = client.request("HEAD", f"/{name}")
    assert head.headers["x-container-meta-color"] == "blue"
    assert "x-versions-enabled" not in head.headers


