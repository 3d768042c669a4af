"""Several daemons of one node in one process: each a green thread, restarted if it dies.

``oiofs-daemon group <conf> [<conf>...]`` runs every daemon that has a section in one of
the given server config files (``[object-replicator]`` in ``object-server.conf``...). One
Python process then carries what would be a dozen (the all-in-one runs one group per
node). The daemons keep their own options and loggers, and the recon cache they share is
written under a lock. A daemon whose ``run_forever`` raises or returns (a bad section, a
bug) is logged and started again after ``restart_delay`` seconds; the others go on.
SIGTERM stops them all: daemons are safe to stop at any moment.

``oiofs-daemon <name> <conf>`` still runs one daemon per process, for operators who want
that.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from types import FrameType

from oiofs.common import runtime
from oiofs.common.cluster_config import load_cluster_config
from oiofs.common.config import load_server_conf, oiofs_dir, parse_ini, readconf
from oiofs.common.daemon import Daemon
from oiofs.common.logger import get_logger

#: seconds between a daemon's crash and its next start
RESTART_DELAY = 10.0


def load_daemon_class(target: str) -> type[Daemon]:
    """The class of ``"module:Class"``, imported now."""
    module_name, _, class_name = target.partition(":")
    klass: type[Daemon] = getattr(importlib.import_module(module_name), class_name)
    return klass


def daemons_in(conf_paths: list[str], registry: dict[str, str]) -> list[tuple[str, str]]:
    """``(daemon name, conf path)`` for every registered daemon with a section in a file."""
    found = []
    for path in conf_paths:
        sections = set(parse_ini(path).sections())
        found += [(name, path) for name in sorted(registry) if name in sections]
    return found


@dataclass
class Member:
    """One daemon of the group and its history."""

    name: str
    conf_path: str
    daemon: Daemon | None = None
    starts: int = 0
    crashes: list[str] = field(default_factory=list)


class DaemonGroup:
    """Runs each member's ``run_forever`` in a green thread and restarts it when it ends."""

    def __init__(self, members: list[tuple[str, str]], registry: dict[str, str],
                 logger: logging.Logger, restart_delay: float = RESTART_DELAY):
        self.members = [Member(name, path) for name, path in members]
        self.registry = registry
        self.logger = logger
        self.restart_delay = restart_delay
        self.stopping = False
        self.pool = runtime.GreenPool(max(len(self.members), 1))

    def _build(self, member: Member) -> Daemon:
        klass = load_daemon_class(self.registry[member.name])
        return klass(readconf(member.conf_path, member.name))

    def supervise(self, member: Member) -> None:
        """Run ``member`` until the group stops, starting it again after each end."""
        while not self.stopping:
            member.starts += 1
            try:
                member.daemon = self._build(member)
                member.daemon.run_forever()
                reason = "run_forever returned"
            except Exception as err:  # one daemon's failure must not end the others
                reason = f"{type(err).__name__}: {err}"
                self.logger.exception("%s crashed", member.name)
            if self.stopping:
                return
            member.crashes.append(reason)
            self.logger.error("%s stopped (%s); starting it again in %gs (start %d)",
                              member.name, reason, self.restart_delay, member.starts + 1)
            time.sleep(self.restart_delay)

    def start(self) -> None:
        """Start every member in its green thread."""
        self.logger.info("running %d daemons in one process: %s", len(self.members),
                         ", ".join(m.name for m in self.members))
        for member in self.members:
            self.pool.spawn_n(self.supervise, member)

    def stop(self) -> None:
        """Ask every member to stop after what it is doing."""
        self.stopping = True
        for member in self.members:
            if member.daemon is not None:
                member.daemon.stopping = True

    def wait(self) -> None:
        """Block until every member ended (after :meth:`stop`)."""
        self.pool.waitall()


def run_group(conf_paths: list[str], registry: dict[str, str], log_name: str = "daemons",
              restart_delay: float = RESTART_DELAY) -> int:
    """Run the daemons of ``conf_paths`` in this process until SIGTERM; exit status.

    The group's own lines (what runs, crashes, restarts: few) are logged as ``log_name``
    at INFO, where the ``[DEFAULT]`` ``log_file`` of the first file says.
    """
    runtime.monkey_patch()
    members = daemons_in(conf_paths, registry)
    first = load_server_conf(conf_paths[0])
    load_cluster_config(oiofs_dir(first))
    logger = get_logger({**first, "log_name": log_name, "log_level": "INFO"})
    group = DaemonGroup(members, registry, logger, restart_delay)
    if not members:
        group.logger.error("no daemon section in %s", ", ".join(conf_paths))
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        group.stop()
        os._exit(0)  # as a single daemon does: every pass is safe to cut short

    signal.signal(signal.SIGTERM, stop)
    group.start()
    while True:  # the main green thread sleeps; SIGTERM ends the process
        time.sleep(3600)
