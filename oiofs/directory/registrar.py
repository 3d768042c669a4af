"""Registration of a running server in the conscience, in the background.

Every oiofs server whose configuration names a directory (``directory_endpoints`` in its
``[DEFAULT]`` section) registers itself every ``register_interval`` seconds (5) from a
green thread: one per server, in the server's first worker (or in its only process with
``workers = 0``), never one per worker. The record says:

* ``type`` (``object``, ``container``, ``account``, ``proxy``, ``account-service``) and
  ``addr`` (``register_addr``, else ``bind_ip:bind_port``);
* ``tag.loc`` = ``location`` (``region.zone.host.device``; default
  ``0.0.<hostname>.<port>``), ``tag.vers`` (the oiofs version), ``tag.pid`` (the process
  that registers);
* ``stat.load`` (one-minute load average), ``stat.cpus``, ``stat.space`` (percent free on
  the fullest device under ``devices``; 100 for a server without devices);
* ``score``, from those (:func:`~oiofs.directory.conscience.compute_score`).

A directory that cannot be reached never blocks or fails the server: the attempt fails
within ``directory_timeout`` (at most the interval) in its own green thread and is logged
at most once per interval.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from oiofs import __version__
from oiofs.common import runtime
from oiofs.common.config import conf_float
from oiofs.common.logger import RepeatLimiter
from oiofs.directory.client import ConscienceClient, directory_endpoints
from oiofs.directory.conscience import compute_score
from oiofs.directory.errors import DirectoryError


def free_fraction(devices: str | None) -> float:
    """The free fraction (0..1) of the fullest filesystem among ``devices``' entries (or
    of ``devices`` itself when it has none); 1.0 without ``devices``."""
    if not devices or not os.path.isdir(devices):
        return 1.0
    paths = [os.path.join(devices, name) for name in sorted(os.listdir(devices))]
    paths = [p for p in paths if os.path.isdir(p)] or [devices]
    fractions = []
    for path in paths:
        try:
            st = os.statvfs(path)
        except OSError:
            continue
        if st.f_blocks:
            fractions.append(st.f_bavail / st.f_blocks)
    return min(fractions, default=1.0)


def service_addr(conf: dict[str, Any]) -> str:
    """The address a server is known by in the directory: ``register_addr``, else
    ``bind_ip:bind_port``.

    >>> service_addr({"bind_ip": "127.0.0.1", "bind_port": "6201"})
    '127.0.0.1:6201'
    """
    port = conf.get("bind_port", "0")
    return conf.get("register_addr") or f"{conf.get('bind_ip', '127.0.0.1')}:{port}"


class Registrar:
    """Builds this server's record and sends it to the conscience."""

    def __init__(self, conf: dict[str, Any], server_type: str, logger: logging.Logger,
                 client: ConscienceClient | None = None):
        self.conf = conf
        self.server_type = server_type
        self.logger = logger
        self.interval = max(0.5, conf_float(conf, "register_interval", 5.0))
        timeout = min(conf_float(conf, "directory_timeout", 5.0), self.interval)
        self.client = client or ConscienceClient(conf, timeout=timeout)
        port = conf.get("bind_port", "0")
        self.addr = service_addr(conf)
        self.location = conf.get("location") or f"0.0.{socket.gethostname()}.{port}"
        self.devices = conf.get("devices") if server_type in (
            "object", "container", "account") else None
        self.repeats = RepeatLimiter(self.interval)
        self.pid = os.getpid()

    def record(self) -> dict[str, Any]:
        """The registration of this server now."""
        load1 = os.getloadavg()[0]
        cpus = os.cpu_count() or 1
        free = free_fraction(self.devices)
        return {"type": self.server_type, "addr": self.addr,
                "score": compute_score(load1, cpus, free),
                "tags": {"tag.loc": self.location, "tag.vers": __version__,
                         "stat.load": round(load1, 2), "stat.cpus": cpus,
                         "stat.space": round(100 * free, 1), "tag.pid": os.getpid()}}

    def register_once(self) -> bool:
        """Send one registration; ``False`` (logged at most once per interval) if the
        directory could not take it."""
        try:
            self.client.register(self.record())
            return True
        except (DirectoryError, OSError, ValueError) as err:
            self.repeats.log(self.logger, logging.WARNING, "register",
                             "cannot register %s %s in the directory: %s",
                             self.server_type, self.addr, err)
            return False

    def run_forever(self) -> None:
        """Register every interval, for as long as this process is the one that started
        it (a process forked from it stops at its first wake-up)."""
        while os.getpid() == self.pid:
            began = time.monotonic()
            self.register_once()
            runtime.sleep(max(0.0, self.interval - (time.monotonic() - began)))


def start_registration(conf: dict[str, Any], server_type: str,
                       logger: logging.Logger) -> Registrar | None:
    """Start registering this server in a green thread, if ``conf`` names a directory.

    Meant to be called once per server, in the process that serves first
    (:func:`oiofs.common.wsgi.run_wsgi`'s ``background`` hook).
    """
    if not directory_endpoints(conf) or server_type == "directory":
        return None
    registrar = Registrar(conf, server_type, logger)
    runtime.spawn_n(registrar.run_forever)
    return registrar
