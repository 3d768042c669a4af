"""The ADMIN verb, AdminClient, Meta2Database, the indexer and the rebuilder on a real
cluster (its own: no replicators running, so replicas change only when a test says so;
two workers per server and proxy, so live settings must reach both)."""

import json
import os

import pytest

from oiofs.common.direct_client import direct_request
from oiofs.directory.admin_client import AdminClient, AdminError, replica_id
from oiofs.directory.indexer import Meta2Indexer, collect_volume_bases
from oiofs.directory.meta2 import Meta2Database, MoveRefused
from oiofs.directory.meta2_rebuilder import Meta2Rebuilder
from oiofs.directory.meta2_rebuilder import main as rebuilder_main
from tests.support.cluster import TestCluster
from tests.support.probe import use_cluster_secret
from tests.support.proxy_client import Client
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def admin_cluster():
    cluster = TestCluster(nodes=4, replicas=3, part_power=4, proxy_workers=2,
                          daemons=False, server_workers=2)
    try:
        cluster.start()  # inside: a failed start still removes its directory
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(autouse=True)
def _cluster_secret(admin_cluster):
    """The admin client hashes names with the cluster's secret (tests reset it)."""
    use_cluster_secret(admin_cluster)


@pytest.fixture(scope="module")
def swift(admin_cluster):
    client = Client(admin_cluster)
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin(admin_cluster):
    return AdminClient({}, oiofs_dir_path=admin_cluster.oiofs_dir,
                       proxy_netloc=admin_cluster.proxy_url.split("//", 1)[1])


def make_container(swift, name, objects=30):
    assert swift.request("PUT", f"/{name}").status in (201, 202)
    for i in range(objects):
        assert swift.request("PUT", f"/{name}/o{i:03d}", body=b"x" * i).status == 201
    return listing(swift, name)


def listing(swift, name):
    resp = swift.request("GET", f"/{name}?format=json", quote_path=False)
    assert resp.status == 200
    return [(o["name"], o["bytes"], o["hash"]) for o in json.loads(resp.body)]


def handoff_of(admin, name):
    _part, primaries = admin.locate("container", "AUTH_test", name)
    ids = {replica_id(n) for n in primaries}
    ring = admin.ring("container")
    return next(replica_id(d) for d in ring.devs if d and replica_id(d) not in ids)


def test_vacuum_keeps_the_listing(admin, swift):
    before = make_container(swift, "vac", 40)
    for i in range(0, 40, 2):
        assert swift.request("DELETE", f"/vac/o{i:03d}").status == 204
    before = listing(swift, "vac")
    result = admin.vacuum_base("container", "AUTH_test", "vac")
    assert len(result) == 3
    for answer in result.values():
        assert answer["status"] == 200, result
        body = answer["body"]
        assert body["size_before"] > 0 and 0 < body["size_after"] <= body["size_before"]
    assert listing(swift, "vac") == before
    assert admin.election_status("container", "AUTH_test", "vac")["in_sync"]


def test_properties(admin, swift):
    make_container(swift, "props", 1)
    admin.set_properties("container", "AUTH_test", "props",
                         properties={"X-Container-Meta-Color": "blue"})
    props = admin.get_properties("container", "AUTH_test", "props")
    assert props["properties"]["X-Container-Meta-Color"] == "blue"
    assert props["system"]["object_count"] == 1
    assert swift.request("HEAD", "/props").headers["x-container-meta-color"] == "blue"
    with pytest.raises(AdminError) as err:
        admin.set_properties("container", "AUTH_test", "props",
                             properties={"X-Object-Meta-Nope": "x"})
    assert err.value.http_status == 400
    with pytest.raises(AdminError) as err:  # a client's limits hold here too
        admin.set_properties("container", "AUTH_test", "props",
                             properties={"X-Container-Meta-Big": "x" * 300})
    assert err.value.http_status == 400 and b"longer than 256" in err.value.http_body
    # an account base: its replicas in the account ring
    account = admin.get_properties("account", "AUTH_test")
    assert account["system"]["container_count"] >= 1
    vacuumed = admin.vacuum_base("account", "AUTH_test")
    assert [r["status"] for r in vacuumed.values()] == [200, 200, 200]


def test_meaningless_verbs_answer_501(admin, swift):
    make_container(swift, "e501", 1)
    with pytest.raises(ValueError, match="cid"):  # a seed container id: refused loudly
        admin.has_base("container", "AUTH_test", "e501", cid="0123ABCD")
    with pytest.raises(ValueError, match="all_replicas"):
        admin.remove_base("container", "AUTH_test", "e501")
    for call in (admin.set_peers, admin.election_leave, admin.election_debug):
        with pytest.raises(AdminError) as err:
            call("container", "AUTH_test", "e501")
        assert err.value.http_status == 501
        assert b"ring" in err.value.http_body or b"election" in err.value.http_body
    _part, nodes = admin.locate("container", "AUTH_test", "e501")
    with pytest.raises(AdminError) as err:
        admin.service_balance_elections(f"{nodes[0]['ip']}:{nodes[0]['port']}")
    assert err.value.http_status == 501


def test_copy_remove_rebuild_and_sync(admin, swift):
    before = make_container(swift, "reb", 25)
    handoff = handoff_of(admin, "reb")
    copy = admin.copy_base_to("container", "AUTH_test", "reb", svc_to=handoff)
    assert copy["verified"] and copy["placed"] and copy["identical"]
    assert admin.has_base("container", "AUTH_test", "reb",
                          service_id=handoff)[handoff]["status"] == 200
    assert admin.remove_base("container", "AUTH_test", "reb",
                             service_id=handoff)[handoff]["body"]["removed"]

    status = admin.election_status("container", "AUTH_test", "reb")
    lost = sorted(status["peers"])[0]
    admin.remove_base("container", "AUTH_test", "reb", service_id=lost)
    status = admin.election_status("container", "AUTH_test", "reb")
    assert status["peers"][lost]["status"] == 404 and not status["in_sync"]
    result = Meta2Database({}, admin_client=admin).rebuild("AUTH_test", "reb")
    assert list(result["rebuilt"]) == [lost] and not result["failed"]
    assert admin.election_status("container", "AUTH_test", "reb")["in_sync"]
    assert listing(swift, "reb") == before

    # election_sync: a peer replicates now and recreates a removed replica
    admin.remove_base("container", "AUTH_test", "reb", service_id=lost)
    other = next(rid for rid in status["peers"] if rid != lost)
    synced = admin.election_sync("container", "AUTH_test", "reb", service_id=other)
    assert synced[other]["status"] == 200 and synced[other]["body"]["primary"]
    assert admin.election_ping("container", "AUTH_test", "reb")[lost] == 200
    assert listing(swift, "reb") == before


def test_move_from_a_handoff_to_its_primary(admin, swift):
    before = make_container(swift, "mov", 20)
    handoff = handoff_of(admin, "mov")
    meta2 = Meta2Database({}, admin_client=admin)
    admin.copy_base_to("container", "AUTH_test", "mov", svc_to=handoff)
    primary = sorted(admin.election_status("container", "AUTH_test", "mov")["peers"])[1]
    with pytest.raises(MoveRefused):
        meta2.move("AUTH_test", "mov", src=primary, dst=handoff)
    with pytest.raises(MoveRefused):  # every primary has it
        meta2.move("AUTH_test", "mov", src=handoff)
    admin.remove_base("container", "AUTH_test", "mov", service_id=primary)
    moved = meta2.move("AUTH_test", "mov", src=handoff)
    assert moved["dst"] == primary and moved["removed"] and moved["copy"]["verified"]
    peers = admin.has_base("container", "AUTH_test", "mov", service_id=[handoff, primary])
    assert peers[handoff]["status"] == 404 and peers[primary]["status"] == 200
    assert listing(swift, "mov") == before


def test_volume_index_and_rebuilder(admin_cluster, admin, swift, tmp_path, capsys):
    before = make_container(swift, "idx", 5)
    for node in admin_cluster.nodes:
        stats = Meta2Indexer({"devices": node["devices"]}).run_once()
        assert stats.errors == 0
    _part, primaries = admin.locate("container", "AUTH_test", "idx")
    lost = primaries[0]
    lost_id = replica_id(lost)
    bases, unreachable = collect_volume_bases(admin, "container", lost_id)
    assert not unreachable
    existing = [name for name in ("idx", "vac", "props", "e501", "reb", "mov", "cli")
                if swift.request("HEAD", f"/{name}").status == 204]
    held = {name for name in existing
            if lost_id in {replica_id(n) for n in admin.locate("container", "AUTH_test",
                                                                name)[1]}}
    assert "idx" in held
    assert held == {b["container"] for b in bases}
    # the volume loses its index and its databases: the peers' indexes still tell
    node = next(n for n in admin_cluster.nodes if n["device"] == lost["device"])
    os.unlink(os.path.join(node["devices"], lost["device"], "db-index.json"))
    admin.remove_base("container", "AUTH_test", "idx", service_id=lost_id)
    after, _ = collect_volume_bases(admin, "container", lost_id)
    assert any(b["container"] == "idx" for b in after)
    progress = []
    result = Meta2Rebuilder({}, service_id=lost_id, admin_client=admin, workers=2,
                            progress=progress.append).run()
    assert result["failed"] == 0 and result["rebuilt_replicas"] >= 1
    assert progress and progress[-1]["done"] == result["total"] == len(after)
    assert admin.has_base("container", "AUTH_test", "idx",
                          service_id=lost_id)[lost_id]["status"] == 200
    assert listing(swift, "idx") == before
    # the command, on a list of bases
    admin.remove_base("container", "AUTH_test", "idx", service_id=lost_id)
    todo = tmp_path / "bases.txt"
    todo.write_text("AUTH_test/idx\n")
    assert rebuilder_main(["--oiofs-dir", admin_cluster.oiofs_dir, "--input-file",
                           str(todo), "--workers", "1"]) == 0
    assert "1/1 bases, 1 replicas rebuilt, 0 failed" in capsys.readouterr().err
    assert admin.election_status("container", "AUTH_test", "idx")["in_sync"]


def test_live_config_reaches_every_worker(admin, swift):
    _part, nodes = admin.locate("container", "AUTH_test", "vac")
    svc = f"{nodes[0]['ip']}:{nodes[0]['port']}"
    assert admin.service_get_info(svc)["workers"] == 2
    admin.service_set_live_config(svc, {"log_level": "debug", "node_timeout": 5})
    try:
        # each request on its own connection: both workers answer in turn
        seen = [admin.service_get_live_config(svc) for _ in range(12)]
        assert all(c["log_level"] == "DEBUG" and c["node_timeout"] == 5 for c in seen)
    finally:
        admin.service_set_live_config(svc, {"log_level": "info"})
    with pytest.raises(AdminError) as err:
        admin.service_set_live_config(svc, {"log_level": "loud"})
    assert err.value.http_status == 400
    with pytest.raises(AdminError) as err:
        admin.service_set_live_config(svc, {"no_such_thing": 1})
    assert err.value.http_status == 400
    assert admin.service_flush_cache(svc)["done"] == "flush_cache"
    assert admin.service_reload_lb(svc)["done"] == "reload_lb"


def test_live_log_level_takes_effect_without_restart(admin_cluster, admin):
    node = admin_cluster.nodes[1]
    port = node["container_port"]
    svc = f"127.0.0.1:{port}"
    log_path = os.path.join(admin_cluster.layout.log,
                            f"container-server-{node['node']}.log")

    def requests(tag):  # each on its own connection: both workers answer
        for i in range(6):
            direct_request("127.0.0.1", port, "ADMIN", "/", {
                "X-Backend-Admin-Op": "info", "X-Trans-Id": f"tx{tag}{i}"},
                expect_success=True)

    def access_lines(tag):
        with open(log_path, errors="replace") as handle:
            return sum(1 for line in handle if f" tx{tag}" in line)

    admin.service_set_live_config(svc, {"log_level": "WARNING"})
    try:
        requests("quiet")
    finally:
        admin.service_set_live_config(svc, {"log_level": "INFO"})
    requests("loud")
    wait_for(lambda: access_lines("loud") == 6, 10, "access lines at INFO again")
    assert access_lines("quiet") == 0  # none written at WARNING, in either worker


def test_proxy_live_ratelimit_takes_effect_without_restart(admin, swift):
    assert swift.request("PUT", "/rl0").status in (201, 202)
    admin.proxy_set_live_config(config={"account_ratelimit": 0.5,
                                        "max_sleep_time_seconds": 0})
    try:
        statuses = [swift.request("PUT", f"/rl{i}").status for i in range(1, 5)]
        assert 498 in statuses
        config = admin.proxy_get_live_config()
        assert config["account_ratelimit"] == 0.5
    finally:
        admin.proxy_set_live_config(config={"account_ratelimit": 0,
                                            "max_sleep_time_seconds": 60})
    assert all(swift.request("PUT", f"/rl{i}").status in (201, 202) for i in range(5, 9))


def test_proxy_cache_flush_and_status(admin, swift):
    for _ in range(4):
        assert swift.request("HEAD", "/vac").status == 204
    admin.proxy_flush_cache()
    for _ in range(4):
        status = admin.proxy_get_cache_status()
        assert status["container"]["entries"] == 0 and status["container"]["ttl"] > 0
    admin.proxy_set_live_config(config={"error_suppression_limit": 3})
    assert admin.proxy_get_live_config()["error_suppression_limit"] == 3
    with pytest.raises(AdminError) as err:
        admin.proxy_set_live_config(config={"error_suppression_limit": 0})
    assert err.value.http_status == 400


def test_oiofs_admin_commands(admin_cluster, admin, swift, capsys):
    from oiofs.cli.admin import main

    make_container(swift, "cli", 3)
    etc = ["--oiofs-dir", admin_cluster.oiofs_dir]
    assert main([*etc, "-f", "json", "base", "status", "AUTH_test", "cli"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["in_sync"] and len(status["peers"]) == 3
    assert main([*etc, "base", "vacuum", "AUTH_test", "cli"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split()[:4] == ["replica", "status", "size_before",
                                               "size_after"]
    assert "vacuum_base: 3/3 replicas" in err
    assert main([*etc, "-f", "json", "base", "props", "AUTH_test", "cli", "--set",
                 "X-Container-Meta-Team=blue"]) == 0
    assert json.loads(capsys.readouterr().out)["properties"] == {
        "X-Container-Meta-Team": "blue"}
    assert main([*etc, "base", "props", "AUTH_test", "cli", "--set", "Bad=1"]) == 1
    assert "400" in capsys.readouterr().err
    proxy = admin_cluster.proxy_url.split("//", 1)[1]
    assert main([*etc, "config", "set", proxy, "error_suppression_interval=30"]) == 0
    capsys.readouterr()
    assert main([*etc, "-f", "json", "config", "get", proxy]) == 0
    assert json.loads(capsys.readouterr().out)["error_suppression_interval"] == 30
    assert main([*etc, "cache", "flush", proxy]) == 0
    assert main([*etc, "-f", "json", "cache", "status", proxy]) == 0
    capsys.readouterr()
    _part, nodes = admin.locate("container", "AUTH_test", "cli")
    for node in admin_cluster.nodes:
        Meta2Indexer({"devices": node["devices"]}).run_once()
    assert main([*etc, "-f", "json", "volume", "bases", replica_id(nodes[0])]) == 0
    assert "cli" in {b["container"] for b in json.loads(capsys.readouterr().out)}
