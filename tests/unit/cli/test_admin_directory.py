"""``oiofs-admin service ...`` and ``oiofs-admin reference ...`` against a real directory."""

import json

import pytest

from oiofs.cli.admin import main
from oiofs.directory.client import ConscienceClient
from oiofs.directory.store import SqliteStore
from tests.support.directory_server import DirectoryThread


@pytest.fixture
def directory(tmp_path):
    with DirectoryThread(SqliteStore(str(tmp_path / "d.db"))) as running:
        ConscienceClient(endpoints=[running.url]).register([
            {"type": "object", "addr": "127.0.0.1:6010", "score": 70,
             "tags": {"tag.loc": "1.1.n1.d1"}},
            {"type": "object", "addr": "127.0.0.1:6020", "score": 40,
             "tags": {"tag.loc": "1.2.n2.d2"}}])
        yield running.url


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_service_list_lock_unlock(directory, capsys):
    code, out, _ = _run(capsys, "service", "--directory", directory, "list", "object")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["type", "id", "addr", "score"]
    assert lines[1].split()[3] == "70" and "1.1.n1.d1" in lines[1]
    code, out, _ = _run(capsys, "-f", "json", "service", "--directory", directory, "lock",
                        "object", "127.0.0.1:6010")
    assert code == 0 and json.loads(out)["score"] == 0
    code, out, _ = _run(capsys, "-f", "json", "service", "--directory", directory, "list")
    assert {s["addr"]: s["score"] for s in json.loads(out)} == {
        "127.0.0.1:6010": 0, "127.0.0.1:6020": 40}
    code, out, _ = _run(capsys, "-f", "json", "service", "--directory", directory,
                        "unlock", "object", "127.0.0.1:6010")
    assert json.loads(out)["score"] == 70


def test_unknown_service_and_no_directory_fail_clearly(directory, capsys, monkeypatch,
                                                       tmp_path):
    code, _, err = _run(capsys, "service", "--directory", directory, "show", "object",
                        "127.0.0.1:1")
    assert code == 1 and "NoSuchService (404)" in err
    monkeypatch.delenv("OIOFS_DIRECTORY", raising=False)
    code, _, err = _run(capsys, "--oiofs-dir", str(tmp_path), "service", "list")
    assert code == 2 and "no directory" in err
    # the proxy's configuration names it
    (tmp_path / "proxy-server.conf").write_text(
        f"[DEFAULT]\ndirectory_endpoints = {directory}\n")
    code, out, _ = _run(capsys, "-f", "json", "--oiofs-dir", str(tmp_path), "service",
                        "list")
    assert code == 0 and len(json.loads(out)) == 2


def test_reference_verbs(directory, capsys):
    ref = ("--directory", directory)

    def run(*argv):
        return _run(capsys, "-f", "json", "reference", *ref, *argv)

    code, out, _ = run("create", "AUTH_a", "vol", "--property", "k=v")
    assert code == 0 and json.loads(out)["created"] is True
    code, out, _ = run("link", "AUTH_a", "vol", "object", "--count", "2")
    (link,) = json.loads(out)
    assert sorted(link["host"].split(",")) == ["127.0.0.1:6010", "127.0.0.1:6020"]
    code, out, _ = run("renew", "AUTH_a", "vol", "object")
    assert [lk["seq"] for lk in json.loads(out)] == [1, 2]
    code, out, _ = run("force", "AUTH_a", "vol", "rdir", "127.0.0.1:7000", "--seq", "4")
    assert {(lk["type"], lk["seq"]) for lk in json.loads(out)} == {
        ("object", 1), ("object", 2), ("rdir", 4)}
    code, _, err = run("force", "AUTH_a", "vol", "rdir", "127.0.0.1:7001", "--seq", "4")
    assert code == 1 and "ReferenceConflict (409)" in err
    code, out, _ = run("show", "AUTH_a", "vol", "--type", "rdir")
    assert [lk["host"] for lk in json.loads(out)["srv"]] == ["127.0.0.1:7000"]
    code, out, _ = run("props", "AUTH_a", "vol", "--set", "x=1", "--unset", "k")
    assert json.loads(out) == {"x": "1"}
    code, _, err = run("delete", "AUTH_a", "vol")
    assert code == 1 and "409" in err
    run("unlink", "AUTH_a", "vol", "object")
    code, out, _ = run("delete", "AUTH_a", "vol", "--force")
    assert code == 0
    code, _, err = run("show", "AUTH_a", "vol")
    assert code == 1 and "NoSuchReference (404)" in err
    # the human table of show: the reference, then its links
    run("create", "AUTH_a", "vol2")
    run("force", "AUTH_a", "vol2", "rdir", "127.0.0.1:7000")
    code, out, _ = _run(capsys, "reference", *ref, "show", "AUTH_a", "vol2")
    assert "reference  vol2" in out and out.splitlines()[-1].split() == [
        "rdir", "1", "127.0.0.1:7000"]
