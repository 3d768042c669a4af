"""The read-your-writes history checker (tests/support/history.py) on hand-written
histories: consistent ones must pass, each kind of anomaly must be found."""

from tests.support.history import History, Op, check, summary


def w(key, value, t0, t1, ok=True, client=0):
    return Op("write", key, value, t0, t1, ok, client=client)


def d(key, t0, t1, ok=True):
    return Op("delete", key, None, t0, t1, ok)


def r(key, value, t0, t1):
    return Op("read", key, value, t0, t1, True)


def ls(keys, t0, t1):
    return Op("list", "", None, t0, t1, True, keys=frozenset(keys))


# --- histories that must pass ---------------------------------------------------------

def test_sequential_reads_of_the_last_write_pass():
    assert check([w("k", "a", 0, 1), r("k", "a", 2, 3), w("k", "b", 4, 5),
                  r("k", "b", 6, 7), d("k", 8, 9), r("k", None, 10, 11)]) == []


def test_read_before_any_write_is_absent():
    assert check([r("k", None, 0, 1), w("k", "a", 2, 3)]) == []


def test_read_concurrent_with_a_write_may_see_either_value():
    ops = [w("k", "a", 0, 1), w("k", "b", 2, 6), r("k", "a", 3, 4), r("k", "b", 3, 4)]
    assert check(ops) == []


def test_overlapping_writes_may_end_in_either_order():
    # b and c overlap: the store's timestamps decide which one wins
    ops = [w("k", "b", 0, 5), w("k", "c", 1, 3), r("k", "b", 6, 7), r("k", "c", 8, 9)]
    assert check(ops) == []


def test_failed_write_may_or_may_not_have_taken_effect():
    ops = [w("k", "a", 0, 1), w("k", "x", 2, 3, ok=False), r("k", "x", 4, 5),
           r("k", "a", 6, 7)]
    assert check(ops) == []


def test_failed_write_never_overwrites():
    assert check([w("k", "a", 0, 1), d("k", 2, 3, ok=False), r("k", "a", 4, 5)]) == []


def test_failed_reads_check_nothing():
    bad = Op("read", "k", "nonsense", 2, 3, ok=False)
    assert check([w("k", "a", 0, 1), bad]) == []


def test_listing_of_exactly_the_acknowledged_objects_passes():
    ops = [w("a", "1", 0, 1), w("b", "1", 0, 1), d("b", 2, 3), ls({"a"}, 4, 5)]
    assert check(ops) == []


def test_listing_concurrent_with_a_write_may_show_it_or_not():
    ops = [w("a", "1", 0, 4), ls({"a"}, 1, 2), ls(set(), 1, 2)]
    assert check(ops) == []


# --- histories that must fail ---------------------------------------------------------

def test_old_version_after_an_acknowledged_overwrite_is_stale():
    anomalies = check([w("k", "a", 0, 1), w("k", "b", 2, 3), r("k", "a", 4, 5)])
    assert summary(anomalies) == {"stale": 1}
    assert "allowed ['b']" in str(anomalies[0])


def test_absent_after_an_acknowledged_write_is_stale():
    assert summary(check([w("k", "a", 0, 1), r("k", None, 2, 3)])) == {"stale": 1}


def test_deleted_object_read_back_is_resurrected():
    ops = [w("k", "a", 0, 1), d("k", 2, 3), r("k", "a", 4, 5)]
    assert summary(check(ops)) == {"resurrected": 1}


def test_a_value_never_written_is_unknown():
    assert summary(check([w("k", "a", 0, 1), r("k", "zzz", 2, 3)])) == {"unknown": 1}


def test_a_value_from_a_write_begun_after_the_read_is_unknown():
    ops = [r("k", "a", 0, 1), w("k", "a", 2, 3)]
    assert summary(check(ops)) == {"unknown": 1}


def test_going_back_after_seeing_the_new_value_is_stale_once_acknowledged():
    ops = [w("k", "a", 0, 1), w("k", "b", 2, 5), r("k", "b", 3, 4), r("k", "a", 6, 7)]
    assert summary(check(ops)) == {"stale": 1}


def test_listing_missing_an_acknowledged_object():
    ops = [w("a", "1", 0, 1), w("b", "1", 0, 1), ls({"a"}, 2, 3)]
    anomalies = check(ops)
    assert summary(anomalies) == {"listing-missing": 1}
    assert "b missing" in str(anomalies[0])


def test_listing_showing_a_deleted_object():
    ops = [w("a", "1", 0, 1), d("a", 2, 3), ls({"a"}, 4, 5)]
    assert summary(check(ops)) == {"listing-extra": 1}


def test_history_records_in_completion_order():
    history = History()
    op = history.begin("write", "k", "v", client=3)
    op.ok = True
    history.end(op)
    read = history.begin("read", "k")
    read.ok, read.value = True, "v"
    history.end(read)
    assert [o.kind for o in history.ops] == ["write", "read"]
    assert history.ops[0].invoked <= history.ops[0].completed <= history.ops[1].invoked
    assert check(history.ops) == []
