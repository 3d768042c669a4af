"""The object replicator against real object servers, on real files and a real ring."""

import os
import time

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.obj.hashes import HASHES_FILE
from oiofs.obj.metadata import XATTR_NAME
from oiofs.obj.replicator import ObjectReplicator
from tests.support.replication import POLICY, Log, ReplicationSetup

NOW = time.time()
PRIMARIES = {"sda", "sdb", "sdc"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    env = ReplicationSetup(str(tmp_path_factory.mktemp("replication")))
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def env(setup):
    setup.wipe()
    yield setup
    for server in setup.servers.values():  # a test that stopped one must not break others
        if server.proc is None or server.proc.poll() is not None:
            server.start()


def replicator(env, dev, log=None, **extra):
    return ObjectReplicator(env.conf(dev, **extra), logger=log or Log())


def head(env, dev, obj):
    part = env.ring.get_part("a", "c", obj)
    return direct_request("127.0.0.1", env.ports[dev], "HEAD",
                          backend_path(dev, part, "a", "c", obj),
                          headers={"X-Backend-Replication": "true"})


def test_primary_pushes_what_peers_lack_with_metadata_intact(env):
    obj, _ = env.name_placed(PRIMARIES)
    env.put("sda", obj, NOW - 50, b"payload", **{"X-Object-Meta-Colour": "bleu é",
                                                  "X-Delete-At": "9999999999"})
    daemon = replicator(env, "sda")
    daemon.run_once()
    stats = daemon.last_stats
    assert stats.files_pushed == 2 and stats.failures == 0
    for dev in ("sdb", "sdc"):
        assert env.files(dev, obj) == env.files("sda", obj)
        resp = head(env, dev, obj)
        assert resp.status == 200
        assert resp.headers["X-Object-Meta-Colour"].encode("latin-1").decode() == "bleu é"
        assert resp.headers["X-Delete-At"] == "9999999999"
        assert resp.headers["Content-Type"] == "text/plain"
        assert resp.headers["Content-Length"] == "7"
        # the whole metadata attribute is byte for byte the same
        name = env.files(dev, obj)[0]
        assert _xattr(env, dev, obj, name) == _xattr(env, "sda", obj, name)


def _xattr(env, dev, obj, name):
    return os.getxattr(os.path.join(_diskfile(env, dev, obj).hash_dir, name), XATTR_NAME)


def _diskfile(env, dev, obj):
    part = env.ring.get_part("a", "c", obj)
    return env.managers[dev].get_diskfile(dev, str(part), "a", "c", obj, POLICY)


def test_in_sync_pass_only_compares_hashes(env):
    objs = [env.name_placed(PRIMARIES, prefix=f"s{i}-")[0] for i in range(3)]
    for obj in objs:
        for dev in PRIMARIES:
            env.put(dev, obj, NOW - 40)
    daemon = replicator(env, "sda", sync_check_interval="0")
    daemon.run_once()
    first = daemon.last_stats
    assert first.files_pushed == 0 and first.failures == 0
    daemon.run_once()
    second = daemon.last_stats
    parts = second.partitions
    assert parts >= 1
    # one REPLICATE per peer per partition, nothing hashed, nothing pushed
    assert second.requests == 2 * parts
    assert (second.suffixes_hashed, second.suffixes_synced, second.files_pushed) == (0, 0, 0)


def test_unchanged_partitions_in_agreement_are_left_alone_for_a_while(env):
    obj, _ = env.name_placed(PRIMARIES, prefix="quiet")
    for dev in PRIMARIES:
        env.put(dev, obj, NOW - 40)
    daemon = replicator(env, "sda", sync_check_interval="1.5")
    daemon.run_once()
    parts = daemon.last_stats.partitions
    assert daemon.last_stats.requests == 2 * parts and parts >= 1
    daemon.run_once()  # nothing changed here: nobody asked
    assert (daemon.last_stats.requests, daemon.last_stats.partitions_unchanged) == (0, parts)
    # a peer loses its copy: noticed once the agreement is older than the interval
    hash_dir = _diskfile(env, "sdb", obj).hash_dir
    for name in env.files("sdb", obj):
        os.unlink(os.path.join(hash_dir, name))
    # and its cached hashes with them (a replaced disk has none)
    os.unlink(os.path.join(os.path.dirname(os.path.dirname(hash_dir)), HASHES_FILE))
    time.sleep(1.6)
    daemon.run_once()
    assert daemon.last_stats.files_pushed == 1
    assert env.files("sdb", obj) == env.files("sda", obj)
    # a local change is compared at the next pass, whatever the interval
    daemon = replicator(env, "sda", sync_check_interval="3600")
    daemon.run_once()
    other, _ = env.name_placed(PRIMARIES, prefix="quiet2")
    env.put("sda", other, NOW - 30)
    daemon.run_once()
    assert daemon.last_stats.files_pushed == 2


def test_tombstone_and_meta_propagate_newest_wins(env):
    gone, _ = env.name_placed(PRIMARIES, prefix="gone")
    tagged, _ = env.name_placed(PRIMARIES, prefix="tag")
    older, _ = env.name_placed(PRIMARIES, prefix="old")
    for dev in PRIMARIES:
        env.put(dev, gone, NOW - 30)
        env.put(dev, tagged, NOW - 30)
    env.delete("sda", gone, NOW - 20)
    env.post("sda", tagged, NOW - 20, **{"X-Object-Meta-Tag": "new"})
    env.put("sda", older, NOW - 30, b"old")
    env.put("sdb", older, NOW - 10, b"newer")  # sdb has newer data: never overwritten
    daemon = replicator(env, "sda")
    daemon.run_once()
    assert daemon.last_stats.failures == 0
    for dev in ("sdb", "sdc"):
        assert env.files(dev, gone) == env.files("sda", gone)
        assert env.files(dev, gone)[0].endswith(".ts")
        assert head(env, dev, gone).status == 404
        assert head(env, dev, tagged).headers["X-Object-Meta-Tag"] == "new"
    assert head(env, "sdb", older).headers["Content-Length"] == "5"
    assert head(env, "sdc", older).headers["Content-Length"] == "3"  # sda's, until sdb runs
    replicator(env, "sdb").run_once()
    assert head(env, "sdc", older).headers["Content-Length"] == "5"


def test_handoff_is_pushed_to_every_primary_then_removed(env):
    obj, part = env.name_placed(PRIMARIES, prefix="h")
    env.put("sdd", obj, NOW - 30, b"from the handoff")
    env.post("sdd", obj, NOW - 20, **{"X-Object-Meta-K": "v"})
    env.put("sdb", obj, NOW - 40, b"stale")
    daemon = replicator(env, "sdd")
    daemon.run_once()
    stats = daemon.last_stats
    assert stats.handoff_partitions >= 1 and stats.failures == 0
    assert stats.handoffs_removed == stats.handoff_partitions
    for dev in PRIMARIES:
        resp = head(env, dev, obj)
        assert resp.status == 200 and resp.headers["X-Object-Meta-K"] == "v"
        assert resp.headers["Content-Length"] == str(len(b"from the handoff"))
    assert not os.path.exists(env.partition_dir("sdd", part))


def test_handoff_kept_while_a_primary_is_down(env):
    obj, part = env.name_placed(PRIMARIES, prefix="k")
    env.put("sdd", obj, NOW - 30)
    env.servers["sdc"].stop()
    daemon = replicator(env, "sdd", conn_timeout="0.2")
    daemon.run_once()
    stats = daemon.last_stats
    assert stats.failures >= 1 and stats.handoffs_removed == 0
    assert env.files("sdd", obj)  # not removed: sdc never acknowledged
    assert head(env, "sda", obj).status == 200
    env.servers["sdc"].start()
    daemon.run_once()
    assert daemon.last_stats.handoffs_removed >= 1 and daemon.last_stats.failures == 0
    assert head(env, "sdc", obj).status == 200
    assert not os.path.exists(env.partition_dir("sdd", part))


def test_corrupt_local_file_is_quarantined_not_spread(env):
    obj, _ = env.name_placed(PRIMARIES, prefix="bad")
    env.put("sda", obj, NOW - 30, b"good bytes")
    path = os.path.join(_diskfile(env, "sda", obj).hash_dir, env.files("sda", obj)[0])
    with open(path, "r+b") as handle:
        handle.write(b"evil")  # same size, bytes no longer match the ETag
    log = Log()
    daemon = replicator(env, "sda", log=log)
    daemon.run_once()
    assert daemon.last_stats.quarantined == 1
    assert env.files("sda", obj) == []
    assert os.listdir(os.path.join(env.devices("sda"), "sda", "quarantined", "objects"))
    for dev in ("sdb", "sdc"):
        assert head(env, dev, obj).status == 404
    assert "quarantined" in log.text("error")


def test_old_tmp_files_are_removed(env):
    obj, _ = env.name_placed(PRIMARIES, prefix="t")
    env.put("sda", obj, NOW - 30)
    tmp = os.path.join(env.devices("sda"), "sda", "tmp")
    old, young = os.path.join(tmp, "old"), os.path.join(tmp, "young")
    for path in (old, young):
        open(path, "w").close()
    os.utime(old, (NOW - 8 * 86400, NOW - 8 * 86400))
    replicator(env, "sda").run_once()
    assert os.listdir(tmp) == ["young"]


def test_pass_summary_is_logged(env):
    obj, _ = env.name_placed(PRIMARIES, prefix="sum")
    env.put("sda", obj, NOW - 30)
    log = Log()
    replicator(env, "sda", log=log).run_once()
    summary = [line for level, line in log.lines if "pass done" in line]
    assert len(summary) == 1
    for words in ("partitions checked", "suffixes hashed", "suffixes synced",
                  "2 files pushed", "handoff partitions removed", "0 failures", "requests"):
        assert words in summary[0]


def test_names_with_slashes_and_non_ascii(env):
    obj, part = env.name_placed(PRIMARIES, prefix="dir/snow ☃ ø%20?#")
    env.put("sdb", obj, NOW - 30, b"unicode")
    daemon = replicator(env, "sdb")
    daemon.run_once(partitions=[part])
    assert daemon.last_stats.failures == 0 and daemon.last_stats.files_pushed == 2
    for dev in PRIMARIES:
        assert head(env, dev, obj).status == 200
