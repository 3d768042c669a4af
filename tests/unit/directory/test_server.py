"""The directory application over HTTP (werkzeug's test client), on both stores."""

import json

import pytest
from werkzeug.test import Client

from oiofs.directory.references import cid_of


@pytest.fixture
def client(app):
    return Client(app)


def _register(client, addr, score=80, service_type="object", loc=None, **tags):
    body = {"type": service_type, "addr": addr, "score": score,
            "tags": {"tag.loc": loc or f"1.1.{addr}.d", **tags}}
    resp = client.post("/v1/conscience/register", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json[0]


def _services(client, service_type="object"):
    resp = client.get(f"/v1/conscience/list?type={service_type}")
    assert resp.status_code == 200
    return {s["addr"]: s for s in resp.json}


def test_register_list_show(client):
    view = _register(client, "127.0.0.1:6010", 87, **{"tag.vers": "1.0", "stat.load": 0.5})
    assert view["score"] == 87 and view["id"] == "127.0.0.1:6010"
    assert view["tags"]["tag.up"] is True and view["tags"]["tag.lock"] is False
    _register(client, "127.0.0.1:6011", 40, service_type="container")
    assert list(_services(client)) == ["127.0.0.1:6010"]
    assert len(client.get("/v1/conscience/list").json) == 2
    shown = client.get("/v1/conscience/show?type=object&addr=127.0.0.1:6010").json
    assert shown["tags"]["tag.loc"] == "1.1.127.0.0.1:6010.d"
    assert shown["tags"]["stat.load"] == 0.5
    assert client.get("/v1/conscience/info").json == {"types": ["container", "object"]}
    assert client.get("/status").json["services"] == 2


def test_register_a_list_refreshes_scores(client):
    resp = client.post("/v1/conscience/register", json=[
        {"type": "object", "addr": "127.0.0.1:1", "score": 10},
        {"type": "object", "addr": "127.0.0.1:2", "score": 20}])
    assert [s["score"] for s in resp.json] == [10, 20]
    _register(client, "127.0.0.1:1", 55)
    assert _services(client)["127.0.0.1:1"]["score"] == 55


def test_silent_service_scores_zero(client, app):
    now = [1000.0]
    app.conscience.clock = lambda: now[0]
    _register(client, "127.0.0.1:6010", 90)
    now[0] += 15
    assert _services(client)["127.0.0.1:6010"]["score"] == 90
    now[0] += 1
    view = _services(client)["127.0.0.1:6010"]
    assert view["score"] == 0 and view["tags"]["tag.up"] is False
    _register(client, "127.0.0.1:6010", 90)  # heard again
    assert _services(client)["127.0.0.1:6010"]["score"] == 90


def test_lock_drains_and_survives_registration(client):
    _register(client, "127.0.0.1:6010", 90)
    resp = client.post("/v1/conscience/lock?type=object&addr=127.0.0.1:6010",
                       json={"score": 0})
    assert resp.status_code == 200 and resp.json["score"] == 0 and resp.json["locked"]
    _register(client, "127.0.0.1:6010", 95)  # the service keeps registering
    assert _services(client)["127.0.0.1:6010"]["score"] == 0
    resp = client.post("/v1/conscience/lock?type=object&addr=127.0.0.1:6010&score=30")
    assert resp.json["score"] == 30
    resp = client.post("/v1/conscience/unlock?type=object&addr=127.0.0.1:6010")
    assert resp.json["score"] == 95 and not resp.json["locked"]


def test_lock_unknown_service_is_404(client):
    resp = client.post("/v1/conscience/lock?type=object&addr=127.0.0.1:9", json={"score": 0})
    assert resp.status_code == 404 and resp.json["error"] == "NoSuchService"


def test_deregister(client):
    _register(client, "127.0.0.1:6010")
    assert client.post("/v1/conscience/deregister?type=object&addr=127.0.0.1:6010"
                       ).status_code == 204
    assert _services(client) == {}
    assert client.post("/v1/conscience/deregister?type=object&addr=127.0.0.1:6010"
                       ).status_code == 404


@pytest.mark.parametrize("body", [
    {"type": "object", "addr": "nohost", "score": 1},
    {"type": "Object!", "addr": "127.0.0.1:1", "score": 1},
    {"type": "object", "addr": "127.0.0.1:1", "score": 101},
    {"type": "object", "addr": "127.0.0.1:1", "score": True},
    {"type": "object", "addr": "127.0.0.1:1", "tags": {"t": {"nested": 1}}},
    "a string",
])
def test_bad_registrations_are_400(client, body):
    resp = client.post("/v1/conscience/register", json=body)
    assert resp.status_code == 400, resp.json
    assert resp.json["error"] == "InvalidRequest"


def test_bad_json_and_unknown_route(client):
    resp = client.post("/v1/conscience/register", data=b"{nope",
                       content_type="application/json")
    assert resp.status_code == 400
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/conscience/register").status_code == 405
    assert client.post("/v1/conscience/lock?type=object").status_code == 400


# --- references ---------------------------------------------------------------------------

REF = "acct=AUTH_test&ref=vol1"


def test_create_has_show_destroy(client):
    assert client.get(f"/v1/reference/has?{REF}").status_code == 404
    assert client.post(f"/v1/reference/create?{REF}",
                       json={"properties": {"a": "1"}}).status_code == 201
    assert client.post(f"/v1/reference/create?{REF}").status_code == 202
    assert client.get(f"/v1/reference/has?{REF}").status_code == 204
    cid = cid_of("AUTH_test", "vol1")
    assert client.get(f"/v1/reference/has?cid={cid.lower()}").status_code == 204
    shown = client.get(f"/v1/reference/show?{REF}").json
    assert shown == {"cid": cid, "account": "AUTH_test", "reference": "vol1", "srv": []}
    assert client.post(f"/v1/reference/destroy?cid={cid}").status_code == 204
    assert client.get(f"/v1/reference/has?{REF}").status_code == 404
    assert client.post(f"/v1/reference/destroy?{REF}").status_code == 404


def test_link_polls_live_services_in_distinct_locations(client):
    _register(client, "127.0.0.1:1", 90, service_type="rdir", loc="1.1.hostA.d1")
    _register(client, "127.0.0.1:2", 90, service_type="rdir", loc="1.1.hostA.d2")
    _register(client, "127.0.0.1:3", 90, service_type="rdir", loc="1.2.hostB.d1")
    client.post("/v1/conscience/lock?type=rdir&addr=127.0.0.1:3", json={"score": 0})
    client.post(f"/v1/reference/create?{REF}")
    resp = client.post(f"/v1/reference/link?{REF}&type=rdir&count=2")
    assert resp.status_code == 200, resp.json
    (link,) = resp.json
    assert link["seq"] == 1 and sorted(link["host"].split(",")) == ["127.0.0.1:1",
                                                                    "127.0.0.1:2"]
    client.post("/v1/conscience/unlock?type=rdir&addr=127.0.0.1:3")
    # linked already: unchanged
    assert client.post(f"/v1/reference/link?{REF}&type=rdir&count=2").json == [link]
    client.post(f"/v1/reference/unlink?{REF}&type=rdir")
    for _ in range(5):  # the far location is always one of two
        client.post(f"/v1/reference/unlink?{REF}&type=rdir")
        (link,) = client.post(f"/v1/reference/link?{REF}&type=rdir&count=2").json
        assert "127.0.0.1:3" in link["host"].split(",")


def test_link_without_services_is_503_and_autocreate(client):
    assert client.post(f"/v1/reference/link?{REF}&type=rdir").status_code == 404
    resp = client.post(f"/v1/reference/link?{REF}&type=rdir&autocreate=1")
    assert resp.status_code == 503 and resp.json["error"] == "NoServiceAvailable"
    _register(client, "127.0.0.1:1", 50, service_type="rdir")
    resp = client.post(f"/v1/reference/link?{REF}&type=rdir&autocreate=1")
    assert resp.status_code == 200 and resp.json[0]["host"] == "127.0.0.1:1"


def test_renew_links_a_new_set_at_the_next_seq(client):
    _register(client, "127.0.0.1:1", 50, service_type="rdir")
    _register(client, "127.0.0.1:2", 50, service_type="rdir")
    client.post(f"/v1/reference/create?{REF}")
    (first,) = client.post(f"/v1/reference/link?{REF}&type=rdir").json
    links = client.post(f"/v1/reference/renew?{REF}&type=rdir").json
    assert [link["seq"] for link in links] == [1, 2]
    assert links[1]["host"] != first["host"]  # another service when there is one
    # a reference with links is not deleted unless forced
    resp = client.post(f"/v1/reference/destroy?{REF}")
    assert resp.status_code == 409
    assert client.post(f"/v1/reference/destroy?{REF}&force=1").status_code == 204


def test_force_and_replace(client):
    link = {"type": "meta2", "host": "10.0.0.1:6000,10.0.0.2:6000", "seq": 3, "args": ""}
    assert client.post(f"/v1/reference/force?{REF}", json=link).status_code == 404
    resp = client.post(f"/v1/reference/force?{REF}&autocreate=1", json=link)
    assert resp.status_code == 200 and resp.json == [link]
    resp = client.post(f"/v1/reference/force?{REF}", json={**link, "host": "10.0.0.3:1"})
    assert resp.status_code == 409
    resp = client.post(f"/v1/reference/force?{REF}&replace=1",
                       json={**link, "host": "10.0.0.3:1"})
    assert resp.json == [{**link, "host": "10.0.0.3:1"}]
    shown = client.get(f"/v1/reference/show?{REF}&type=meta2").json["srv"]
    assert shown == [{**link, "host": "10.0.0.3:1"}]
    assert client.get(f"/v1/reference/show?{REF}&type=rdir").json["srv"] == []
    resp = client.post(f"/v1/reference/force?{REF}", json={"type": "meta2", "seq": 0,
                                                          "host": "x:1"})
    assert resp.status_code == 400


def test_properties(client):
    client.post(f"/v1/reference/create?{REF}", json={"properties": {"a": "1"}})
    assert client.post(f"/v1/reference/set_properties?{REF}",
                       json={"properties": {"b": "2", "c": "3"}}).status_code == 204
    got = client.post(f"/v1/reference/get_properties?{REF}").json
    assert got == {"properties": {"a": "1", "b": "2", "c": "3"}}
    got = client.post(f"/v1/reference/get_properties?{REF}", json=["b"]).json
    assert got == {"properties": {"b": "2"}}
    client.post(f"/v1/reference/del_properties?{REF}", json=["a"])
    assert client.post(f"/v1/reference/get_properties?{REF}").json["properties"] == {
        "b": "2", "c": "3"}
    client.post(f"/v1/reference/set_properties?{REF}&flush=1",
                json={"properties": {"z": "9"}})
    assert client.post(f"/v1/reference/get_properties?{REF}").json["properties"] == {
        "z": "9"}
    client.post(f"/v1/reference/del_properties?{REF}")
    assert client.post(f"/v1/reference/get_properties?{REF}").json["properties"] == {}
    resp = client.post(f"/v1/reference/set_properties?{REF}",
                       json={"properties": {"n": 1}})
    assert resp.status_code == 400


@pytest.mark.parametrize("query", ["", "acct=a", "cid=xyz", "cid=" + "G" * 64])
def test_reference_naming_errors_are_400(client, query):
    resp = client.get(f"/v1/reference/has?{query}")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert json.loads(resp.get_data())["status"] == 400


def test_a_request_leaves_no_reference_cycle(app):
    """werkzeug's request stored itself in its environ (a cycle per request)."""
    from tests.support.garbage import answer_get, cyclic_garbage

    def work():
        for _ in range(3):
            assert answer_get(app, "/v1/conscience/list", "type=object") == b"[]"

    assert cyclic_garbage(work) == []
