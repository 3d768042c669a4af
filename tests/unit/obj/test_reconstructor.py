"""The object reconstructor against real object servers, on real archives and a real ring:
rebuild of a lost archive, revert of a handoff's, tombstones, a corrupted source."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from oiofs.common.hashing import md5
from oiofs.obj.reconstructor import ObjectReconstructor
from tests.support.reconstruction import SEGMENT, ECSetup
from tests.support.replication import Log
from tests.support.waiting import wait_for

NOW = time.time()
BODY = os.urandom(3 * SEGMENT + 123)  # 4 segments, the last one short


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    env = ECSetup(str(tmp_path_factory.mktemp("reconstruction")))
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def env(setup):
    setup.wipe()
    return setup


def reconstruct(env, dev, log=None, **extra):
    """One pass of the reconstructor of ``dev``'s node, on ``dev`` only; its stats."""
    daemon = ObjectReconstructor(env.conf(env.node_of[dev], **extra), logger=log or Log())
    daemon.run_once(devices=[dev])
    return daemon.last_stats


def all_archives(env, obj):
    found = {}
    for dev in env.slots(obj):
        got = env.archive(dev, obj)
        if got is not None:
            found[got[0]] = got[1]
    return found


def test_lost_archive_is_rebuilt_by_a_neighbour(env):
    obj = "rebuild-me"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={2})
    assert env.archive(slots[2], obj) is None
    stats = reconstruct(env, slots[1])  # slot 1's next neighbour is slot 2
    assert stats.archives_rebuilt == 1 and stats.failures == 0, stats
    index, data, metadata = env.archive(slots[2], obj)
    assert index == 2
    assert data == env.archives_of(BODY)[2]  # the very bytes the writer made
    assert metadata["X-Object-Sysmeta-Ec-Frag-Index"] == "2"
    assert metadata["ETag"] == md5(data).hexdigest()
    assert metadata["Content-Length"] == str(len(data))
    assert metadata["X-Object-Sysmeta-Ec-Etag"] == md5(BODY).hexdigest()
    ts = metadata["X-Timestamp"]
    assert env.files(slots[2], obj) == [f"{ts}#2#d.data"]
    assert env.decodes_with_any_k(all_archives(env, obj), BODY)
    # in sync now: the next pass rebuilds nothing
    assert reconstruct(env, slots[1]).archives_rebuilt == 0


def test_empty_object_and_both_neighbours(env):
    obj = "empty"
    slots = env.slots(obj)
    env.put(obj, b"", NOW - 60, skip={0, 2})
    stats = reconstruct(env, slots[1])  # neighbours: slots 0 and 2
    assert stats.archives_rebuilt == 2, stats
    assert env.archive(slots[0], obj)[0] == 0 and env.archive(slots[2], obj)[0] == 2
    assert env.decodes_with_any_k(all_archives(env, obj), b"")


def _corrupt_second_segment(env, dev, obj):
    """Flip a byte in the second segment of ``obj``'s archive on ``dev``."""
    path = os.path.join(env.diskfile(dev, obj).hash_dir, env.files(dev, obj)[0])
    with open(path, "r+b") as handle:
        handle.seek(len(env.archives_of(BODY)[0]) // 4 + 200)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_corrupted_source_archive_is_not_used(env):
    obj = "corrupt-source"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={1})
    _corrupt_second_segment(env, slots[0], obj)  # archive 0 is read first to rebuild 1
    # its server does not check block checksums: the bad fragment reaches the
    # reconstructor, whose own fragment check drops that archive for another
    with env.server_options(env.node_of[slots[0]], verify_block_checksums="false"):
        log = Log()
        stats = reconstruct(env, slots[2], log)  # slot 2's previous neighbour is slot 1
    assert stats.archives_rebuilt == 1 and stats.bad_fragments == 1, stats
    assert env.archive(slots[1], obj)[1] == env.archives_of(BODY)[1]
    assert "checksum" in log.text("warning")


def test_corrupted_source_archive_refused_by_its_server(env):
    obj = "corrupt-source-checked"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={1})
    _corrupt_second_segment(env, slots[0], obj)
    # with block checksums checked (the default) its server never sends it
    stats = reconstruct(env, slots[2])
    assert stats.archives_rebuilt == 1, stats
    assert env.archive(slots[1], obj)[1] == env.archives_of(BODY)[1]


def test_too_few_archives_is_a_counted_failure(env):
    obj = "lost"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={1, 3, 4})  # 3 left: below k
    stats = reconstruct(env, slots[2])
    assert stats.archives_rebuilt == 0 and stats.rebuild_failures == 2, stats
    assert env.archive(slots[1], obj) is None and env.archive(slots[3], obj) is None
    assert not os.listdir(os.path.join(env.devices(env.node_of[slots[2]]), slots[2], "tmp"))


def test_handoff_archive_is_reverted_then_removed(env):
    obj = "reverted"
    slots = env.slots(obj)
    handoff = env.handoff(obj)
    env.put(obj, BODY, NOW - 60, skip={3})
    env.put_archive(handoff, obj, BODY, 3, NOW - 60)  # the write went to a handoff
    stats = reconstruct(env, handoff)
    assert stats.archives_reverted == 1 and stats.handoffs_removed == 1, stats
    assert stats.archives_rebuilt == 0
    assert env.archive(slots[3], obj)[1] == env.archives_of(BODY)[3]
    part = env.ring.get_part("a", "c", obj)
    assert not os.path.exists(os.path.join(env.devices(env.node_of[handoff]), handoff,
                                           "objects-1", str(part)))


def test_handoff_kept_while_its_primary_is_down(env):
    obj = "kept"
    slots = env.slots(obj)
    handoff = env.handoff(obj)
    env.put(obj, BODY, NOW - 60, skip={0})
    env.put_archive(handoff, obj, BODY, 0, NOW - 60)
    server = env.servers[env.node_of[slots[0]]]
    server.stop()
    try:
        stats = reconstruct(env, handoff)
    finally:
        server.start()
    assert stats.handoffs_removed == 0 and stats.failures >= 1, stats
    assert env.archive(handoff, obj)[0] == 0
    assert reconstruct(env, handoff).handoffs_removed == 1
    assert env.archive(slots[0], obj)[0] == 0


def test_tombstone_goes_to_the_neighbours(env):
    obj = "deleted"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60)
    env.delete(slots[0], obj, NOW - 30)
    stats = reconstruct(env, slots[0])
    assert stats.archives_rebuilt == 0 and stats.failures == 0, stats
    for slot in (5, 0, 1):
        assert [name[-3:] for name in env.files(slots[slot], obj)] == [".ts"], slot
    assert env.archive(slots[3], obj) is not None  # not a neighbour: its own pass


def test_newer_write_on_the_neighbour_is_left_alone(env):
    obj = "newer"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60)
    newer = os.urandom(100)
    env.put_archive(slots[1], obj, newer, 1, NOW - 10)
    stats = reconstruct(env, slots[0])
    assert stats.archives_rebuilt == 0 and stats.files_pushed == 0, stats
    assert env.archive(slots[1], obj)[1] == env.archives_of(newer)[1]


def test_archive_whose_commit_was_lost_is_committed(env):
    obj = "uncommitted"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={4})
    env.put_archive(slots[4], obj, BODY, 4, NOW - 60, durable=False)
    stats = reconstruct(env, slots[3])
    assert stats.archives_committed == 1 and stats.archives_rebuilt == 0, stats
    index, data, metadata = env.archive(slots[4], obj)
    assert env.files(slots[4], obj) == [f"{metadata['X-Timestamp']}#4#d.data"]
    assert data == env.archives_of(BODY)[4]
    assert metadata["X-Object-Sysmeta-Ec-Etag"] == md5(BODY).hexdigest()
    assert metadata["X-Object-Sysmeta-Ec-Content-Length"] == str(len(BODY))


def test_uncommitted_archive_of_another_write_is_replaced(env):
    obj = "uncommitted-older"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={4})
    env.put_archive(slots[4], obj, b"an older write", 4, NOW - 90, durable=False)
    stats = reconstruct(env, slots[3])
    assert stats.archives_rebuilt == 1 and stats.archives_committed == 0, stats
    ts = env.archive(slots[0], obj)[2]["X-Timestamp"]
    assert env.files(slots[4], obj) == [f"{ts}#4#d.data"]  # the pending one is obsolete
    assert env.archive(slots[4], obj)[1] == env.archives_of(BODY)[4]


def test_meta_goes_to_the_neighbours(env):
    obj = "posted"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60)
    df = env.diskfile(slots[3], obj)
    df.write_metadata({"X-Timestamp": f"{NOW - 30:016.5f}", "name": df.name,
                       "X-Object-Meta-Colour": "blue"})
    stats = reconstruct(env, slots[3])
    assert stats.files_pushed == 2 and stats.archives_rebuilt == 0, stats
    for slot in (2, 3, 4):
        assert sum(name.endswith(".meta") for name in env.files(slots[slot], obj)) == 1
    assert not any(name.endswith(".meta") for name in env.files(slots[0], obj))


def test_pass_stats_go_to_recon_and_metrics_counters(env, tmp_path):
    obj = "recon"
    slots = env.slots(obj)
    env.put(obj, BODY, NOW - 60, skip={1})
    daemon = ObjectReconstructor(env.conf(env.node_of[slots[0]],
                                          recon_cache_path=str(tmp_path)), logger=Log())
    daemon.run_pass(devices=[slots[0]])
    with open(tmp_path / "object.recon") as handle:
        recon = json.load(handle)
    assert recon["object_reconstruction_stats"]["archives_rebuilt"] == 1
    assert recon["object_reconstruction_last"] >= NOW
    assert recon["object_reconstruction_time"] >= 0


def test_killed_mid_rebuild_leaves_nothing_durable(env):
    obj = "killed"
    slots = env.slots(obj)
    body = os.urandom(1024 * SEGMENT)  # 1024 segments: the rebuild takes a while
    env.put(obj, body, NOW - 60, skip={2})
    node = env.node_of[slots[1]]
    conf = os.path.join(env.root, "reconstructor.conf")
    with open(conf, "w") as handle:
        handle.write("[DEFAULT]\n" + "".join(f"{k} = {v}\n" for k, v in env.conf(node).items())
                     + "\n[object-reconstructor]\n")
    tmp = os.path.join(env.devices(node), slots[1], "tmp")
    proc = subprocess.Popen([sys.executable, "-m", "oiofs.cli.daemon", "object-reconstructor",
                             conf, "--once"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # mid-rebuild: its scratch file is there, the neighbour has nothing yet
        wait_for(lambda: os.path.isdir(tmp) and any(n.endswith(".rebuild")
                                                    for n in os.listdir(tmp)),
                 timeout=30, what="a rebuild under way", interval=0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # no half archive, durable or not: nothing, or (killed while pushing, on a loaded
    # machine) the whole archive
    left = env.files(slots[2], obj)
    assert left == [] or (len(left) == 1 and
                          env.archive(slots[2], obj)[1] == env.archives_of(body)[2]), left
    stats = reconstruct(env, slots[1])  # the next pass does what is left
    assert stats.archives_rebuilt == (1 if left == [] else 0), stats
    assert env.archive(slots[2], obj)[1] == env.archives_of(body)[2]


def test_handoff_tombstone_goes_to_every_primary(env):
    obj = "deleted-on-handoff"
    slots = env.slots(obj)
    handoff = env.handoff(obj)
    env.put(obj, BODY, NOW - 60)
    env.delete(handoff, obj, NOW - 30)
    stats = reconstruct(env, handoff)
    assert stats.files_pushed == 6 and stats.handoffs_removed == 1, stats
    for dev in slots:
        assert [name[-3:] for name in env.files(dev, obj)] == [".ts"], dev
    assert env.files(handoff, obj) == []
