"""LiveConfig: settings and events shared by forked workers through one page."""

import os

import pytest

from oiofs.common.exceptions import ConfigError
from oiofs.common.live_config import LiveConfig, parse_non_negative, parse_positive_int


def make_live(state):
    live = LiveConfig()
    live.add("timeout", parse_non_negative, lambda: state["timeout"],
             lambda v: state.update(timeout=v))
    live.add("limit", parse_positive_int, lambda: state["limit"],
             lambda v: state.update(limit=v))
    live.on_event("flush", lambda: state.update(flushes=state["flushes"] + 1))
    return live


def test_a_change_made_in_a_forked_worker_reaches_the_parent():
    state = {"timeout": 1.0, "limit": 3, "flushes": 0}
    live = make_live(state)
    pid = os.fork()
    if pid == 0:  # the "other worker": changes the settings and fires an event
        try:
            live.set({"timeout": "2.5"})
            live.signal("flush")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert state == {"timeout": 1.0, "limit": 3, "flushes": 0}  # not applied yet
    live.refresh()
    assert state == {"timeout": 2.5, "limit": 3, "flushes": 1}
    live.refresh()
    assert state["flushes"] == 1  # an event runs once per firing
    assert live.values() == {"limit": 3, "timeout": 2.5}


@pytest.mark.parametrize("changes", [{"timeout": "-1"}, {"limit": "0"}, {"limit": "x"},
                                     {"nope": 1}, {"timeout": "nan"}])
def test_bad_values_change_nothing(changes):
    state = {"timeout": 1.0, "limit": 3, "flushes": 0}
    live = make_live(state)
    with pytest.raises(ConfigError):
        live.set(dict(changes, limit=5) if "limit" not in changes else changes)
    assert state["limit"] == 3 and state["timeout"] == 1.0
