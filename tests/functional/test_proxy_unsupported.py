"""A request that needs a feature oiofs has not built gets 501 and stores nothing."""


from tests.support.proxy_client import unique


def test_versions_listing_is_refused(client):
    name = unique("unsup")
    assert client.request("PUT", f"/{name}").status == 201
    resp = client.request("GET", f"/{name}?versions", quote_path=False)
    assert resp.status == 501
    assert b"not available" in resp.body


def test_built_features_pass(client):
    name = unique("unsup")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    assert client.request("HEAD", f"/{name}/o?version-id=null", quote_path=False
                          ).status == 404
