"""Recon and dispersion against a real cluster: the servers' ``/recon`` after real daemon
passes, ``oiofs-recon`` with a node stopped and with rings that differ, and the dispersion
report with an object device emptied and a node stopped (it must count the missing copies).
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from oiofs.client import Connection
from oiofs.common.ring import Ring
from tests.support.probe import ProbeClient


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def recon(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/recon/{path}", timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def probe(cluster):
    client = ProbeClient(cluster)
    client.put_container("recon")
    for i in range(6):
        assert client.put("recon", f"o{i}", b"x" * 100) == 201
    return client


def test_servers_answer_recon_with_their_daemons_pass_stats(cluster, probe):
    for daemon in ("object-replicator", "object-updater", "container-updater",
                   "account-auditor"):
        assert set(cluster.aio.run_once(daemon).values()) == {0}, daemon
    attempted = 0
    for node in cluster.nodes:
        replication = recon(node["object_port"], "replication/object")
        assert replication["object_replication_last"] is not None
        attempted += replication["replication_stats"]["attempted"]
        assert recon(node["object_port"], "async")["async_pending"] == 0
        assert isinstance(recon(node["container_port"], "updater/container")[
            "container_updater_sweep"], float)
        assert recon(node["account_port"], "auditor/account")["account_audits_passed"] >= 0
        usage = recon(node["object_port"], "diskusage")
        assert [d["device"] for d in usage] == [node["device"]] + (
            [node["ec_device"]] if node["ec_device"] else [])
    assert attempted > 0, "the objects' partitions were replicated somewhere"


def test_recon_all_names_a_stopped_node(cluster, probe):
    stopped = cluster.nodes[1]
    cluster.stop_node(stopped["node"])
    try:
        text = run_cli("oiofs.cli.recon", "--all", "--timeout", "2", "--oiofs-dir",
                       cluster.oiofs_dir)
        as_json = run_cli("oiofs.cli.recon", "container", "--all", "--json", "--timeout",
                          "2", "--oiofs-dir", cluster.oiofs_dir)
    finally:
        cluster.start_node(stopped["node"])
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"!! 127.0.0.1:{stopped['object_port']} did not answer" in text.stdout
    assert "3/4 hosts answered every check." in text.stdout
    assert "3/4 hosts matched" in text.stdout  # ring md5s of the others agree
    assert "reported: 3" in text.stdout
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1
    assert list(report["unreachable"]) == [f"127.0.0.1:{stopped['container_port']}"]
    assert len(report["ringmd5"]["matched"]) == 3


def test_recon_md5_flags_rings_that_differ(cluster, probe, tmp_path):
    same = run_cli("oiofs.cli.recon", "--md5", "--oiofs-dir", cluster.oiofs_dir)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "4/4 hosts matched" in same.stdout
    other = tmp_path / "etc"
    shutil.copytree(cluster.oiofs_dir, other)
    with open(other / "account.ring.gz", "ab") as ring:
        ring.write(b"changed")
    differ = run_cli("oiofs.cli.recon", "--md5", "--oiofs-dir", other)
    assert differ.returncode == 1
    for node in cluster.nodes:
        assert (f"!! http://127.0.0.1:{node['object_port']}/recon/ringmd5 (account.ring.gz)"
                " doesn't match") in differ.stdout
    assert "0/4 hosts matched" in differ.stdout


def _dispersion_conf(cluster, tmp_path) -> str:
    path = tmp_path / "dispersion.conf"
    path.write_text(f"""[dispersion]
auth_url = {cluster.auth_url}
auth_user = test:tester
auth_key = testing
oiofs_dir = {cluster.oiofs_dir}
dispersion_coverage = 100
concurrency = 4
retries = 0
""")
    return str(path)


def _primaries_on(ring: Ring, device: str, names) -> int:
    return sum(1 for parts in names
               if device in [n["device"] for n in ring.get_nodes(*parts)[1]])


def test_dispersion_counts_the_missing_copies(cluster, probe, tmp_path):
    conf = _dispersion_conf(cluster, tmp_path)
    populated = run_cli("oiofs.cli.dispersion.populate", conf)
    assert populated.returncode == 0, populated.stdout + populated.stderr
    full = run_cli("oiofs.cli.dispersion.report", conf, "--json")
    assert full.returncode == 0, full.stdout + full.stderr
    report = json.loads(full.stdout)
    partitions = 2 ** cluster.layout.part_power
    for kind in ("container", "object"):
        assert report[kind]["queried"] == partitions  # coverage 100: one per partition
        assert report[kind]["pct_found"] == 100.0
        assert report[kind]["copies_found"] == 3 * partitions

    # an object device emptied: its copies are missing, the node still answers
    node1 = cluster.nodes[0]
    shutil.rmtree(os.path.join(node1["devices"], node1["device"], "objects"))
    conn = Connection(cluster.auth_url, "test:tester", "testing")
    objects = [(probe.account, "dispersion_objects_0", row["name"])
               for row in conn.list_objects("dispersion_objects_0")]
    lost = _primaries_on(Ring(cluster.oiofs_dir, ring_name="object"), node1["device"],
                         objects)
    assert lost > 0
    after = run_cli("oiofs.cli.dispersion.report", conf, "--json", "--object-only",
                    "--policy-name", "Policy-0")
    assert after.returncode == 1
    obj = json.loads(after.stdout)["object"]
    assert obj["copies_found"] == 3 * partitions - lost
    assert obj["missing_1"] == lost and obj["missing_2"] == 0
    assert obj["missing_on"] == {f"127.0.0.1:{node1['object_port']}/{node1['device']}": lost}

    # a node stopped: the copies of its containers are missing
    node2 = cluster.nodes[1]
    containers = [(probe.account, row["name"])
                  for row in conn.list_containers(prefix="dispersion_")
                  if not row["name"].startswith("dispersion_objects_")]
    down = _primaries_on(Ring(cluster.oiofs_dir, ring_name="container"), node2["device"],
                         containers)
    cluster.stop_node(node2["node"])
    try:
        text = run_cli("oiofs.cli.dispersion.report", conf, "--container-only")
    finally:
        cluster.start_node(node2["node"])
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"There were {down} partitions missing 1 copy." in text.stdout
    assert (f"of container copies found ({3 * partitions - down} of {3 * partitions})"
            in text.stdout)


def test_dispersion_refuses_an_unknown_policy(cluster, probe, tmp_path):
    result = run_cli("oiofs.cli.dispersion.report", _dispersion_conf(cluster, tmp_path),
                     "--policy-name", "nope", "--object-only")
    assert result.returncode == 2
    assert "no storage policy named 'nope'" in result.stderr
