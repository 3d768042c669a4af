"""The meta0 mapping kept by the directory: packed in one record of its store (sqlite and
Redis), served over HTTP, used by ``Meta0Client`` and ``oiofs-admin meta0 --store
directory``."""

import json
import random

import pytest
from werkzeug.test import Client

from oiofs.cli.admin import main
from oiofs.directory.client import Meta0DirectoryStore
from oiofs.directory.errors import InvalidRequest
from oiofs.directory.meta0 import Meta0Client
from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.meta0_packed import META0_KEY, META0_NAMESPACE, pack, unpack
from tests.support.directory_server import DirectoryThread

IDS = [f"127.0.0.1:{6201 + i}/d{i}" for i in range(12)]


def _whole_mapping(seed=1):
    rng = random.Random(seed)
    return {f"{p:04X}": rng.sample(IDS, 3) for p in range(1 << 16)}


def test_pack_round_trip_and_refusals():
    doc = {"mapping": {"00ab": ["a", "b", "c"], "0001": ["c"], "FFFF": ["b", "a"]},
           "services": [{"id": "a"}], "settings": {"digits": 4}}
    back = unpack(json.loads(json.dumps(pack(doc))))
    assert back["mapping"] == {"00AB": ["a", "b", "c"], "0001": ["c"], "FFFF": ["b", "a"]}
    assert (back["services"], back["settings"]) == (doc["services"], doc["settings"])
    for bad in ({"mapping": {"00AB": []}}, {"mapping": {"XYZ1": ["a"]}},
                {"mapping": ["00AB"]}):
        with pytest.raises(Meta0Error):
            pack(bad)
    good = pack(doc)
    for change in ({"format": 2}, {"ids": ["a", "a", "b"]}, {"width": 2},
                   {"rows": "not base64!"}, {"ids": ["a"]}, {"services": {}}):
        with pytest.raises(Meta0Error):
            unpack({**good, **change})


def test_a_whole_mapping_is_one_small_record(store):
    """65,536 prefixes through HTTP into one record of each store, and back."""
    mapping = _whole_mapping()
    with DirectoryThread(store) as directory:
        client = Meta0Client(store=Meta0DirectoryStore(endpoints=[directory.url]))
        assert client.list() == {} and client.settings() == {}
        client.force_all(mapping, [{"id": i, "addr": i.split("/")[0]} for i in IDS],
                         {"digits": 4, "replicas": 3})
        assert client.list() == mapping
        assert client.settings() == {"digits": 4, "replicas": 3}
        client.force({"0000": [IDS[0]]})  # one prefix changed, the others kept
        assert client.list() == {**mapping, "0000": [IDS[0]]}
        (record,) = store.scan(META0_NAMESPACE)
        assert record is not None and store.get(META0_NAMESPACE, META0_KEY) == record
        # 12 ids x 3 replicas: ~100 kB packed, instead of ~4.5 MB as plain JSON
        assert len(json.dumps(record)) < 400_000 < len(json.dumps(mapping))
        client.force({}, replace=True)
        assert client.list() == {}


def test_a_malformed_document_is_refused_with_400(app):
    http = Client(app)
    good = pack({"mapping": {"00AB": ["a"]}})
    assert http.put("/v1/meta0", json=good).status_code == 204
    for body in ({**good, "rows": good["rows"][:-8]}, {"mapping": {}}, [1, 2]):
        resp = http.put("/v1/meta0", json=body)
        assert resp.status_code == 400 and resp.json["error"] == "InvalidRequest", resp.json
    assert http.put("/v1/meta0", data=b"{not json").status_code == 400
    assert unpack(http.get("/v1/meta0").json)["mapping"] == {"00AB": ["a"]}  # kept


def test_the_client_raises_what_the_directory_answers(app):
    with DirectoryThread(app.store) as directory:
        http_store = Meta0DirectoryStore(endpoints=[directory.url])
        with pytest.raises(InvalidRequest):
            http_store.request("PUT", "/v1/meta0", body={"format": 1})


def test_admin_meta0_against_a_running_directory(capsys, tmp_path, store):
    services = [{"addr": f"127.0.0.{1 + i % 4}:{6201 + i}", "score": 50,
                 "tags": {"tag.loc": f"r1.z{i % 2}.h{i % 4}.sd{i}"}} for i in range(8)]
    (tmp_path / "services.json").write_text(json.dumps(services))

    def admin(*argv):
        code = main(["-f", "json", "--oiofs-dir", str(tmp_path), "meta0", "--store",
                     "directory", "--directory", directory.url, *argv])
        captured = capsys.readouterr()
        return code, json.loads(captured.out) if captured.out.strip() else None, \
            captured.err

    with DirectoryThread(store) as directory:
        code, out, err = admin("bootstrap", "--services", str(tmp_path / "services.json"),
                               "--digits", "2", "--min-dist", "2")
        assert code == 0, err
        assert (out["bases"], out["min_bases"], out["max_bases"]) == (256, 96, 96)
        assert not (tmp_path / "meta0.json").exists()  # in the directory, not a file
        code, out, err = admin("show")
        assert code == 0 and out["problems"] == [], err
        assert sum(row["bases"] for row in out["services"]) == 256 * 3
        served = Meta0Client(store=Meta0DirectoryStore(endpoints=[directory.url])).list()
        assert len(served) == 1 << 16
    code, _, err = admin("show")  # the directory is gone: a clear error, exit 2
    assert code == 2 and "Error" in err
