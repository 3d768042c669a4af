"""A forked child gets an event hub of its own, not its parent's (and so not a shared
epoll instance, whose registrations would wake the child for the parent's sockets)."""

import os
import socket

import eventlet.hubs

from oiofs.common import runtime


def _child_report(write_fd: int, parent_hub_id: int, parent_poll_fd: int) -> None:
    hub = eventlet.hubs.get_hub()
    poll = getattr(hub, "poll", None)
    poll_fd = poll.fileno() if hasattr(poll, "fileno") else -1
    fresh = id(hub) != parent_hub_id and (parent_poll_fd < 0 or poll_fd != parent_poll_fd)
    # the child's hub works: a green sleep returns
    runtime.sleep(0.01)
    os.write(write_fd, b"fresh" if fresh else b"shared")


def test_a_forked_child_has_its_own_hub():
    hub = eventlet.hubs.get_hub()
    poll = getattr(hub, "poll", None)
    parent_poll_fd = poll.fileno() if hasattr(poll, "fileno") else -1
    # the parent has a registration pending, as a worker's parent may
    left, right = socket.socketpair()
    right.send(b"x")
    listener = hub.add(hub.READ, left.fileno(), lambda fd: None, lambda gt: None,
                       lambda: None)
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                _child_report(write_fd, id(hub), parent_poll_fd)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.read(read_fd, 16) == b"fresh"
    finally:
        hub.remove(listener)
        for fd in (read_fd, write_fd):
            os.close(fd)
        left.close()
        right.close()
