"""The Redis account backend and its Lua scripts, against a real redis-server."""

import random
import subprocess
import threading
import time

import pytest

from oiofs.account.redis_backend import (
    AccountNotEmpty,
    MetadataLimitExceeded,
    NoSuchAccount,
    NoSuchContainer,
    NoUpdateNeeded,
    RedisAccountBackend,
)
from oiofs.common.redis_conn import RedisUnavailable
from oiofs.common.timestamp import Timestamp
from tests.support.redis_server import REDIS_SERVER
from tests.support.servers import free_port


@pytest.fixture
def backend(redis_url):
    store = RedisAccountBackend({"redis_url": redis_url, "deleted_container_ttl": "60"})
    store.client.flushdb()
    yield store
    store.conn.close()


T0 = 1_700_000_000


def ts(n: float, offset: int = 0) -> str:
    return Timestamp(T0 + n, offset=offset).internal


def info(backend, account="acct"):
    data = backend.info_account(account)
    return data["containers"], data["objects"], data["bytes"]


def test_account_life(backend):
    assert backend.create_account("acct") == "acct"
    assert backend.create_account("acct") is None
    assert backend.create_account("other") == "other"
    assert backend.list_account() == ["acct", "other"]
    assert backend.status() == {"account_count": 2}
    data = backend.info_account("acct")
    assert (data["id"], data["bytes"], data["objects"], data["containers"]) == (
        "acct", 0, 0, 0)
    assert backend.info_account("nobody") is None
    backend.update_container("acct", "c", ts(1), 0, 1, 10)
    with pytest.raises(AccountNotEmpty):
        backend.delete_account("acct")
    backend.flush_account("acct")
    assert info(backend) == (0, 0, 0)
    assert backend.delete_account("acct")
    assert backend.info_account("acct") is None
    with pytest.raises(NoSuchAccount):
        backend.delete_account("acct")
    assert backend.list_account() == ["other"]


def test_counters_and_listing(backend):
    backend.create_account("acct")
    for i, name in enumerate(["a/b".replace("/", "-"), "photos_1", "photos_2", "zeta",
                              "Upper_Case"]):
        backend.update_container("acct", name, ts(i + 1), 0, i + 1, 100 * (i + 1))
    assert info(backend) == (5, 15, 1500)
    names = [row[0] for row in backend.list_containers("acct")]
    assert names == ["Upper_Case", "a-b", "photos_1", "photos_2", "zeta"]
    assert [r[0] for r in backend.list_containers("acct", limit=2, marker="a-b")] == [
        "photos_1", "photos_2"]
    assert [r[0] for r in backend.list_containers("acct", end_marker="photos_1")] == [
        "Upper_Case", "a-b"]
    assert [r[0] for r in backend.list_containers("acct", prefix="photos")] == [
        "photos_1", "photos_2"]
    rows = backend.list_containers("acct", delimiter="_")
    assert [(r[0], r[3]) for r in rows] == [("Upper_", 1), ("a-b", 0), ("photos_", 1),
                                           ("zeta", 0)]
    assert [r[0] for r in backend.list_containers("acct", s3_buckets_only=True)] == [
        "a-b", "zeta"]
    assert [r[0] for r in backend.list_containers("acct", limit=1,
                                                  s3_buckets_only=True)] == ["a-b"]
    name, objects, size, subdir, mtime = backend.list_containers("acct", prefix="zeta")[0]
    assert (objects, size, subdir, mtime) == (4, 400, 0, pytest.approx(T0 + 4))
    backend.refresh_account("acct")
    assert info(backend) == (5, 15, 1500)
    # a corrupted counter is repaired by refresh
    backend.client.hset("account:acct", "objects", 999)
    backend.refresh_account("acct")
    assert info(backend) == (5, 15, 1500)


def test_out_of_order_updates(backend):
    backend.update_container("acct", "c", ts(2), 0, 5, 50)
    with pytest.raises(NoUpdateNeeded):
        backend.update_container("acct", "c", ts(1), 0, 1, 10)
    with pytest.raises(NoUpdateNeeded):
        backend.update_container("acct", "c", ts(2), 0, 7, 70)  # not newer
    assert info(backend) == (1, 5, 50)
    backend.update_container("acct", "c", ts(3), 0, 2, 20)
    assert info(backend) == (1, 2, 20)


def test_precision_of_timestamps_and_counters(backend):
    # offsets differ only past the 16th digit: Lua numbers could not tell them apart
    backend.update_container("acct", "c", ts(1, offset=2), 0, 1, 2**60)
    with pytest.raises(NoUpdateNeeded):
        backend.update_container("acct", "c", ts(1, offset=1), 0, 1, 1)
    backend.update_container("acct", "c", ts(1, offset=3), 0, 1, 2**60 + 1)
    assert info(backend) == (1, 1, 2**60 + 1)
    # a longer integer part is newer whatever the digits
    backend.update_container("acct", "d", "999999999.99999", 0, 0, 0)
    backend.update_container("acct", "d", "1000000000.00000", 0, 3, 3)
    assert backend.list_containers("acct", prefix="d")[0][1] == 3


def test_delete_then_late_update(backend):
    backend.update_container("acct", "c", ts(1), 0, 4, 40)
    backend.update_container("acct", "keep", ts(1), 0, 1, 1)
    assert backend.update_container("acct", "c", ts(1), ts(3), 0, 0) == "deleted"
    assert info(backend) == (1, 1, 1)
    assert 0 < backend.client.ttl(backend.ckey("acct", "c")) <= 60
    # late, between the last modification and the delete: recorded, still deleted
    assert backend.update_container("acct", "c", ts(2), 0, 9, 90) == "deleted"
    with pytest.raises(NoUpdateNeeded):  # older than both times
        backend.update_container("acct", "c", ts(0.5), 0, 9, 90)
    assert [r[0] for r in backend.list_containers("acct")] == ["keep"]
    assert info(backend) == (1, 1, 1)
    assert backend.update_container("acct", "c", ts(4), 0, 2, 20) == "updated"
    assert backend.client.ttl(backend.ckey("acct", "c")) == -1  # kept again
    assert info(backend) == (2, 3, 21)


def test_autocreate_and_required_container(backend):
    with pytest.raises(NoSuchAccount):
        backend.update_container("acct", "c", ts(1), 0, 1, 1, autocreate_account=False)
    with pytest.raises(NoSuchContainer):
        backend.update_container("acct", "c", ts(1), 0, 0, 0, autocreate_container=False)
    backend.update_container("acct", "c", ts(1), 0, 1, 1)
    backend.update_container("acct", "c", ts(2), 0, 0, 0, autocreate_container=False)
    assert info(backend) == (1, 0, 0)


def test_equal_timestamps_with_equal_wins(backend):
    backend.update_container("acct", "c", ts(1), 0, 1, 10, policy=0, equal_wins=True)
    backend.update_container("acct", "c", ts(1), 0, 3, 30, policy=0, equal_wins=True)
    assert info(backend) == (1, 3, 30)
    with pytest.raises(NoUpdateNeeded):
        backend.update_container("acct", "c", ts(1), 0, 3, 30, policy=0, equal_wins=True)
    record, _ = backend.raw_account("acct")
    assert (record["policy:0:containers"], record["policy:0:objects"],
            record["policy:0:bytes"]) == ("1", "3", "30")
    backend.update_container("acct", "c", ts(1), 0, 3, 30, policy=1, equal_wins=True)
    record, _ = backend.raw_account("acct")
    assert (record["policy:0:containers"], record["policy:1:containers"],
            record["policy:1:bytes"]) == ("0", "1", "30")


def test_counters_never_negative(backend):
    rng = random.Random(7)
    for _ in range(400):
        name = f"c{rng.randrange(5)}"
        mtime, dtime = ts(rng.randrange(100)), ts(rng.randrange(100)) if rng.random() < .3 else 0
        try:
            backend.update_container("acct", name, mtime, dtime, rng.randrange(50),
                                     rng.randrange(5000), rng.randrange(3), rng.randrange(3),
                                     policy=rng.randrange(2))
        except NoUpdateNeeded:
            pass
        record, _ = backend.raw_account("acct")
        for key in ("objects", "bytes", "damaged_objects", "missing_chunks"):
            assert int(record[key]) >= 0
        assert all(int(v) >= 0 for k, v in record.items() if k.startswith("policy:"))
    rows = backend.list_containers("acct")
    assert info(backend)[1:] == (sum(r[1] for r in rows), sum(r[2] for r in rows))


def test_metadata(backend):
    with pytest.raises(NoSuchAccount):
        backend.update_account_metadata("acct", {"a": "1"})
    backend.create_account("acct")
    backend.update_account_metadata("acct", {"a": "1", "b": "2"})
    backend.update_account_metadata("acct", {"c": "3"}, ["a"])
    assert backend.get_account_metadata("acct") == {"b": "2", "c": "3"}
    assert backend.info_account("acct")["metadata"] == {"b": "2", "c": "3"}
    prefix = "x-account-meta-"
    assert backend.merge_metadata("acct", {"X-Account-Meta-K": ("v1", ts(2))}, prefix) == 1
    assert backend.merge_metadata("acct", {"X-Account-Meta-K": ("v0", ts(1))}, prefix) == 0
    assert backend.timed_metadata("acct")["X-Account-Meta-K"] == ["v1", ts(2)]
    with pytest.raises(MetadataLimitExceeded):
        backend.merge_metadata("acct", {f"X-Account-Meta-{i}": ("v", ts(3))
                                        for i in range(91)}, prefix)
    assert "X-Account-Meta-0" not in backend.timed_metadata("acct")


def test_scripts_reloaded_after_flush(backend):
    backend.update_container("acct", "c", ts(1), 0, 1, 1)
    backend.client.script_flush()
    backend.update_container("acct", "c", ts(2), 0, 2, 2)
    assert info(backend) == (1, 2, 2)


def test_bad_names_refused(backend):
    with pytest.raises(ValueError):
        backend.update_container("acct", "a/b", ts(1), 0, 1, 1)
    with pytest.raises(ValueError):
        backend.update_container("acct", "c", ts(1), 0, -1, 1)


def test_unreachable_redis():
    store = RedisAccountBackend({"redis_url": "redis://127.0.0.1:1/0",
                                 "redis_connect_timeout": "0.5"})
    with pytest.raises(RedisUnavailable):
        store.update_container("acct", "c", ts(1), 0, 1, 1)
    with pytest.raises(RedisUnavailable):
        store.info_account("acct")


def test_concurrent_updaters_agree_with_serial_replay(backend, redis_url):
    """16 threads send shuffled updates of 8 containers; the result is the serial one."""
    rng = random.Random(11)
    updates = []
    for n in range(800):
        dtime = ts(n + 0.5) if rng.random() < 0.15 else 0
        updates.append((f"c{rng.randrange(8)}", ts(n), dtime, rng.randrange(100),
                        rng.randrange(10**6)))
    rng.shuffle(updates)
    errors = []

    def worker(chunk):
        store = RedisAccountBackend({"redis_url": redis_url})
        try:
            for name, mtime, dtime, objects, size in chunk:
                try:
                    store.update_container("parallel", name, mtime, dtime, objects, size,
                                           policy=0)
                except NoUpdateNeeded:
                    pass
        except Exception as err:  # reported below
            errors.append(err)
        finally:
            store.conn.close()

    threads = [threading.Thread(target=worker, args=(updates[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, mtime, dtime, objects, size in sorted(updates, key=lambda u: u[1]):
        try:
            backend.update_container("serial", name, mtime, dtime, objects, size, policy=0)
        except NoUpdateNeeded:
            pass
    parallel = backend.list_containers("parallel")
    assert parallel == backend.list_containers("serial")
    assert backend.info_account("parallel")["containers"] == len(parallel) > 0
    for key in ("objects", "bytes"):
        assert (backend.info_account("parallel")[key] == backend.info_account("serial")[key]
                == sum(r[1 if key == "objects" else 2] for r in parallel))
    assert (backend.raw_account("parallel")[0]["policy:0:bytes"]
            == backend.raw_account("serial")[0]["policy:0:bytes"])


def test_sentinel_names_the_master(redis_url, tmp_path):
    """With sentinel_hosts, the master is asked of a real Sentinel."""
    master_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor oiofs-test 127.0.0.1 {master_port} 1\n")
    sentinel = subprocess.Popen([REDIS_SERVER, str(conf), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = RedisAccountBackend({"sentinel_hosts": f"127.0.0.1:{port}",
                                     "sentinel_name": "oiofs-test"})
        deadline = time.monotonic() + 10
        while True:
            try:
                store.update_container("via-sentinel", "c", ts(1), 0, 1, 1)
                break
            except RedisUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        direct = RedisAccountBackend({"redis_url": redis_url})
        assert direct.info_account("via-sentinel")["objects"] == 1
        store.conn.close()
        direct.conn.close()
    finally:
        sentinel.terminate()
        sentinel.wait(10)


def test_listing_keeps_any_name(backend):
    names = ["café", 'quo"te', "back\\slash", "emoji\U0001f600", "tab\tname", "日本"]
    for i, name in enumerate(names):
        backend.update_container("acct", name, ts(i + 1), 0, i, i)
    rows = backend.list_containers("acct")
    assert [r[0] for r in rows] == sorted(names)
    assert {r[0]: r[1] for r in rows} == {name: i for i, name in enumerate(names)}
    assert backend.list_containers("acct", prefix="zzz") == []
    assert [r[0] for r in backend.list_container_rows("acct", 2, None, None, None, None,
                                                      reverse=True)] == sorted(names)[::-1][:2]


def test_a_deleted_account_with_containers_waits_for_the_reaper(backend):
    backend.put_account("full", ts(1))
    backend.update_container("full", "c", ts(2), 0, 3, 30, autocreate_account=False)
    backend.put_account("bare", ts(1))
    assert backend.mark_account_deleted("full", ts(3)) == "deleted"
    assert backend.mark_account_deleted("bare", ts(3)) == "deleted"
    assert backend.deleted_accounts() == {"full": ts(3)}  # an empty one is not queued
    assert backend.client.ttl(backend.akey("bare")) > 0
    assert backend.client.ttl(backend.akey("full")) == -1  # kept while it lists containers
    assert backend.finish_reaping("full") is False
    # the reaper's container DELETE reaches the deleted account (override)
    backend.update_container("full", "c", ts(2), ts(4), 0, 0, autocreate_account=False,
                             override_deleted=True)
    assert backend.finish_reaping("full") is True
    assert backend.deleted_accounts() == {}
    assert 0 < backend.client.ttl(backend.akey("full")) <= 604800
    assert backend.raw_account("full")[0]["status"] == "DELETED"
