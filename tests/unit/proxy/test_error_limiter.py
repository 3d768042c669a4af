"""Error limiting: faults suppress a node briefly, a probe brings it back (time driven)."""

import os

from oiofs.proxy.error_limiter import ErrorLimiter

KEY = "127.0.0.1:6200/sda"


def make(limit=3, interval=60.0, suppression=3.0):
    return ErrorLimiter(limit=limit, interval=interval, suppression_time=suppression,
                        clock=lambda: 0.0)


def test_below_limit_is_not_limited():
    lim = make()
    assert not lim.error(KEY, now=1.0)
    assert not lim.error(KEY, now=2.0)
    assert not lim.is_limited(KEY, now=2.1)
    assert lim.errors(KEY) == 2


def test_limit_reached_suppresses_for_suppression_time_only():
    lim = make()
    for t in (1.0, 2.0):
        lim.error(KEY, now=t)
    assert lim.error(KEY, now=3.0)  # third error: suppressed
    assert lim.is_limited(KEY, now=3.5)
    assert lim.is_limited(KEY, now=5.9)
    # Window over: offered again; the first request sent is the probe, and the others
    # avoid the node while it is in flight.
    assert not lim.is_limited(KEY, now=6.1)
    assert not lim.is_limited(KEY, now=6.15)  # asking claims nothing
    lim.sending(KEY, now=6.2)
    assert lim.is_limited(KEY, now=6.3)
    assert lim.is_limited(KEY, now=9.1)
    assert not lim.is_limited(KEY, now=9.3)  # the probe never reported: offered again


def test_asking_about_a_node_without_sending_never_keeps_it_suppressed():
    # Reads ask about every replica to order them, then send to a few: a node back
    # from an outage must still get the next write sent to it.
    lim = make()
    for t in (1.0, 2.0, 3.0):
        lim.error(KEY, now=t)
    for t in (6.5, 9.6, 12.7, 15.8):  # a read orders the nodes at each window's end
        lim.is_limited(KEY, now=t)
    assert not lim.is_limited(KEY, now=15.9)  # so the write's turn: sent as the probe
    lim.sending(KEY, now=15.9)
    lim.success(KEY)
    assert not lim.is_limited(KEY, now=16.0)
    assert lim.errors(KEY) == 0


def test_successful_probe_restores_the_node_at_once():
    lim = make()
    for t in (1.0, 2.0, 3.0):
        lim.error(KEY, now=t)
    assert not lim.is_limited(KEY, now=6.5)
    lim.sending(KEY, now=6.5)  # the probe
    lim.success(KEY)
    assert not lim.is_limited(KEY, now=6.6)
    assert lim.errors(KEY) == 0


def test_failed_probe_suppresses_again():
    lim = make()
    for t in (1.0, 2.0, 3.0):
        lim.error(KEY, now=t)
    assert not lim.is_limited(KEY, now=6.5)
    lim.sending(KEY, now=6.5)
    assert lim.error(KEY, now=6.6)
    assert lim.is_limited(KEY, now=9.0)
    assert not lim.is_limited(KEY, now=9.7)


def test_errors_spread_wider_than_interval_do_not_add_up():
    lim = make(interval=10.0)
    lim.error(KEY, now=0.0)
    lim.error(KEY, now=5.0)
    lim.error(KEY, now=16.0)  # more than 10 s after the previous one: count restarts
    assert lim.errors(KEY) == 1
    assert not lim.is_limited(KEY, now=16.5)


def test_connection_refused_suppresses_immediately():
    lim = make(limit=10)
    assert lim.error(KEY, now=1.0, fatal=True)
    assert lim.is_limited(KEY, now=1.1)
    assert not lim.is_limited(KEY, now=4.1)  # back within seconds, not a minute


def test_other_nodes_unaffected():
    lim = make(limit=1)
    lim.error(KEY, now=1.0)
    assert lim.is_limited(KEY, now=1.5)
    assert not lim.is_limited("127.0.0.1:6210/sdb", now=1.5)


def test_key_from_ring_node():
    assert ErrorLimiter.key({"ip": "10.0.0.1", "port": 6200, "device": "d1"}) == \
        "10.0.0.1:6200/d1"


def test_a_node_that_failed_stays_recently_failed_for_interval_after_it_recovers():
    lim = make(interval=60.0)
    assert not lim.recently_failed(KEY, now=0.5)
    lim.error(KEY, now=1.0, fatal=True)
    lim.success(KEY)  # back, and used in full again
    assert not lim.is_limited(KEY, now=2.0)
    assert lim.recently_failed(KEY, now=61.0)
    assert not lim.recently_failed(KEY, now=61.5)


def test_a_fault_seen_by_one_forked_worker_counts_in_the_others():
    clock = [100.0]
    limiter = ErrorLimiter(limit=5, interval=60.0, clock=lambda: clock[0])
    key = "127.0.0.1:6200/d1"
    pid = os.fork()
    if pid == 0:  # the other worker sees the node fail
        limiter.error(key)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert limiter.recently_failed(key)
    assert not limiter.is_limited(key)  # the error counts stay per worker
    clock[0] += 61
    assert not limiter.recently_failed(key)


def test_fault_order_puts_the_node_that_failed_latest_last():
    lim = make()
    lim.error("a", now=10.0)
    lim.error("b", now=20.0)
    order = sorted(["b", "never", "a"], key=lambda key: lim.fault_order(key, now=30.0))
    assert order == ["never", "a", "b"]
    assert lim.fault_order("a", now=71.0) == float("-inf")  # past the interval
