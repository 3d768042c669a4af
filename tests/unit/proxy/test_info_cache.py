"""The info cache: TTL, and invalidation seen by a forked worker (real fork)."""

import os

from oiofs.proxy.info_cache import InfoCache


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_ttl():
    clock = Clock()
    cache = InfoCache(ttl=5, clock=clock)
    gen = cache.generation("a/c")
    cache.set("a/c", "info", gen)
    assert cache.get("a/c") == "info"
    clock.now += 4.9
    assert cache.get("a/c") == "info"
    clock.now += 0.2
    assert cache.get("a/c") is None


def test_invalidate_and_stale_set():
    cache = InfoCache(ttl=5)
    gen = cache.generation("a/c")
    cache.invalidate("a/c")  # a change happened while the info was being fetched
    cache.set("a/c", "old info", gen)
    assert cache.get("a/c") is None
    cache.set("a/c", "new info", cache.generation("a/c"))
    assert cache.get("a/c") == "new info"


def test_invalidation_reaches_other_processes():
    cache = InfoCache(ttl=60)
    cache.set("a/c", "cached", cache.generation("a/c"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the "other worker": changes the container
        try:
            cache.invalidate("a/c")
            os.write(write_end, b"x")
        finally:
            os._exit(0)
    os.read(read_end, 1)
    os.waitpid(pid, 0)
    os.close(read_end)
    os.close(write_end)
    assert cache.get("a/c") is None


def test_size_bound():
    cache = InfoCache(ttl=60, max_entries=3)
    for i in range(4):
        cache.set(f"a/{i}", i, cache.generation(f"a/{i}"))
    assert cache.get("a/3") == 3
    assert len(cache._entries) <= 3
