"""``oiofs-admin meta0 ...`` on a temporary directory, end to end."""

import json

import pytest

from oiofs.cli.admin import main
from oiofs.common.ring import Ring


@pytest.fixture
def cluster_dir(tmp_path):
    services = [{"addr": f"127.0.0.{1 + i % 4}:{6201 + i}", "score": 50,
                 "tags": {"tag.loc": f"r1.z{i % 2}.h{i % 4}.sd{i}"}} for i in range(8)]
    (tmp_path / "services.json").write_text(json.dumps(services))
    return tmp_path


def admin(capsys, directory, *argv):
    code = main(["-f", "json", "--oiofs-dir", str(directory), "meta0", *argv])
    captured = capsys.readouterr()
    out = json.loads(captured.out) if captured.out.strip() else None
    return code, out, captured.err


def test_bootstrap_show_decommission_rebalance_export_import(capsys, cluster_dir):
    services = str(cluster_dir / "services.json")
    code, out, err = admin(capsys, cluster_dir, "bootstrap", "--services", services,
                           "--digits", "2", "--min-dist", "2")
    assert code == 0, err
    assert (out["bases"], out["min_bases"], out["max_bases"], out["problems"]) == \
        (256, 96, 96, 0)
    assert "bootstrap: 256/256 bases assigned" in err
    assert (cluster_dir / "meta0.json").exists()

    code, out, err = admin(capsys, cluster_dir, "bootstrap", "--services", services)
    assert code == 2 and "--force" in err

    code, out, _ = admin(capsys, cluster_dir, "show")
    assert code == 0 and out["problems"] == []
    assert out["settings"]["digits"] == 2
    assert sorted(row["bases"] for row in out["services"]) == [96] * 8

    code, out, _ = admin(capsys, cluster_dir, "decommission", "127.0.0.1:6201")
    assert code == 0 and out["moved"] == 96 and out["left"] == 0

    code, out, _ = admin(capsys, cluster_dir, "rebalance")
    assert code == 0 and out["problems"] == 0
    code, out, _ = admin(capsys, cluster_dir, "show")
    counts = {row["id"]: row["bases"] for row in out["services"]}
    assert counts.pop("127.0.0.1:6201") == 0  # stays decommissioned
    assert max(counts.values()) - min(counts.values()) <= 1

    ring_path = str(cluster_dir / "container.ring.gz")
    code, out, _ = admin(capsys, cluster_dir, "export-ring", ring_path)
    assert code == 0 and out["part_power"] == 8
    ring = Ring(ring_path)
    code, mapping, _ = admin(capsys, cluster_dir, "show", "--mapping")
    nodes = ring.get_part_nodes(0xAB)
    assert [f"{n['ip']}:{n['port']}" for n in nodes] == mapping["AB00"]

    other = cluster_dir / "other"
    other.mkdir()
    code, out, _ = admin(capsys, other, "import-ring", ring_path, "--min-dist", "2")
    assert code == 0 and out["problems"] == 0
    code, again, _ = admin(capsys, other, "show", "--mapping")
    assert again == mapping


def test_errors_are_reported_not_raised(capsys, cluster_dir):
    code, _, err = admin(capsys, cluster_dir, "show")
    assert code == 2 and "bootstrap" in err
    (cluster_dir / "bad.json").write_text("{")
    code, _, err = admin(capsys, cluster_dir, "bootstrap", "--services",
                         str(cluster_dir / "bad.json"))
    assert code == 2 and "cannot read the services" in err
    code, _, err = admin(capsys, cluster_dir, "bootstrap", "--services",
                         str(cluster_dir / "services.json"), "--replicas", "5",
                         "--min-dist", "2", "--digits", "1")
    assert code == 2 and "min_dist" in err
    code, _, err = admin(capsys, cluster_dir, "bootstrap", "--services",
                         str(cluster_dir / "services.json"), "--level", "planet")
    assert code == 2 and "unknown location level" in err
    assert admin(capsys, cluster_dir, "bootstrap", "--services",
                 str(cluster_dir / "services.json"), "--digits", "1")[0] == 0
    code, _, err = admin(capsys, cluster_dir, "export-ring",
                         str(cluster_dir / "missing" / "c.ring.gz"))
    assert code == 2 and "No such file" in err
    code, _, err = admin(capsys, cluster_dir, "import-ring",
                         str(cluster_dir / "services.json"), "--force")
    assert code == 2 and "not a gzip ring file" in err
    code, _, err = admin(capsys, cluster_dir, "decommission", "nope")
    assert code == 2 and "not in the mapping" in err


def test_table_output(capsys, cluster_dir):
    assert main(["--oiofs-dir", str(cluster_dir), "meta0", "bootstrap", "--services",
                 str(cluster_dir / "services.json"), "--digits", "1"]) == 0
    capsys.readouterr()
    assert main(["--oiofs-dir", str(cluster_dir), "meta0", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "addr", "location", "score", "bases", "share"]
    assert len(lines) == 9


def test_services_from_the_conscience(capsys, tmp_path):
    """bootstrap and rebalance take the services from a real directory's conscience."""
    from oiofs.directory.client import ConscienceClient
    from oiofs.directory.store import SqliteStore
    from tests.support.directory_server import DirectoryThread

    with DirectoryThread(SqliteStore(str(tmp_path / "d.db"))) as directory:
        conscience = ConscienceClient(endpoints=[directory.url])
        conscience.register([{"type": "container", "addr": f"127.0.0.1:{6201 + i}",
                              "score": 60, "tags": {"tag.loc": f"1.{i}.node{i}.d{i}"}}
                             for i in range(4)])
        argv = ["--directory", directory.url]
        code, out, err = admin(capsys, tmp_path, *argv, "bootstrap", "--from-conscience",
                               "container", "--replicas", "3", "--digits", "1",
                               "--min-dist", "2")
        assert code == 0, err
        assert (out["services"], out["min_bases"], out["max_bases"]) == (4, 12, 12)
        conscience.register({"type": "container", "addr": "127.0.0.1:6205", "score": 60,
                             "tags": {"tag.loc": "1.5.node5.d5"}})
        code, out, err = admin(capsys, tmp_path, *argv, "rebalance", "--from-conscience",
                               "container")
        assert code == 0, err
        assert out["services"] == 5 and out["moved"] > 0
        code, out, _ = admin(capsys, tmp_path, *argv, "show")
        assert {row["id"]: row["bases"] for row in out["services"]}["127.0.0.1:6205"] > 0
        ring = str(tmp_path / "container.ring.gz")
        assert admin(capsys, tmp_path, "export-ring", ring)[0] == 0
        assert {d["device"] for d in Ring(ring).devs} == {f"d{i}" for i in (0, 1, 2, 3, 5)}
    code, _, err = admin(capsys, tmp_path, "--directory", directory.url, "rebalance",
                         "--from-conscience", "container")
    assert code == 2 and "Error" in err
