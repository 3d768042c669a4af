"""SharedRateTable: Swift's rate arithmetic, and counts shared with forked processes."""

import multiprocessing

import pytest

from oiofs.common.shared_rate import MaxSleepExceeded, SharedRateTable


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_requests_over_the_rate_sleep_then_are_refused():
    clock = Clock()
    table = SharedRateTable(slots=16, rate_buffer=0, max_sleep=2, clock=clock)
    assert table.sleep_time("a", 2) == 0  # 2 per second: one every 0.5 s
    assert table.sleep_time("a", 2) == 0.5
    assert table.sleep_time("a", 2) == 1.0
    assert table.sleep_time("a", 2) == 1.5
    with pytest.raises(MaxSleepExceeded):
        table.sleep_time("a", 2)  # 2 s away: refused, and it did not count
    clock.now += 0.5
    assert table.sleep_time("a", 2) == 1.5
    assert table.sleep_time("b", 2) == 0  # another key has its own count
    clock.now += 100
    assert table.sleep_time("a", 2) == 0  # idle long enough: starts afresh


def test_rate_buffer_lets_an_idle_key_burst():
    clock = Clock()
    table = SharedRateTable(slots=16, rate_buffer=1, max_sleep=60, clock=clock)
    assert table.sleep_time("k", 1) == 0
    clock.now += 1.5  # idle 1.5 s: within the buffer, so the credit is kept
    assert table.sleep_time("k", 1) == 0
    assert table.sleep_time("k", 1) == 0.5


def test_a_full_table_takes_over_the_slot_that_frees_first():
    clock = Clock()
    table = SharedRateTable(slots=2, rate_buffer=0, max_sleep=600, clock=clock)
    for key in ("a", "b", "c"):
        assert table.sleep_time(key, 0.01) == 0
    # a key taken over starts afresh; the table never refuses for being full
    assert table.sleep_time("d", 0.01) == 0


def _use(table, key, n, out):
    out.put([table.sleep_time(key, 1) for _ in range(n)])


def test_forked_processes_share_the_counts():
    clock = Clock()
    table = SharedRateTable(slots=64, rate_buffer=0, max_sleep=600, clock=clock)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_use, args=(table, "shared", 3, out))
    child.start()
    assert out.get(timeout=30) == [0, 1.0, 2.0]
    child.join(30)
    assert table.sleep_time("shared", 1) == 3.0  # the child's three count here
