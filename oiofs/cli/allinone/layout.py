"""Where an all-in-one cluster keeps its files, and which ports its servers listen on.

Everything lives under one directory (``--dir``)::

    etc/oiofs.conf                      cluster secret and policies (made once, kept)
    etc/*.builder, etc/*.ring.gz        the rings (account, container, object, and
                                        object-1 of the erasure-coded policy ec42)
    etc/proxy-server.conf               proxy pipeline, tempauth users
    etc/node<N>/<type>-server.conf      one file per server type and node
    data/node<N>/d<N>/                  the node's device (a plain directory)
    data/node<N>/d<N>ec/                a second device, used by the ec42 policy only
                                        (with d<N>: 4 nodes give its 6 fragments 8
                                        devices, so each lands on its own device)
    cache/node<N>/                      the node's recon cache (daemons' pass stats)
    etc/directory-server.conf           the directory (conscience and references); its
    data/directory/directory.db         sqlite store
    etc/redis.conf, data/redis/         with ``--account-backend redis``: the Redis of the
                                        accounts (its AOF file and logs)
    run/<name>.pid                      what is running, one pid file per process
    log/<name>.log                      what each process wrote

Ports: the proxy listens on ``port_base``; node N (1-based) uses ``port_base + 10*N`` for
its object server, ``+1`` for its container server and ``+2`` for its account server;
the accounts' Redis (``--account-backend redis``) listens on ``port_base + 9``, the
directory on ``port_base + 8``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SERVER_TYPES = ("object", "container", "account")
ACCOUNT_BACKENDS = ("sqlite", "redis")
REDIS_PORT_OFFSET = 9
DIRECTORY_PORT_OFFSET = 8
#: the process name of the directory server
DIRECTORY_PROCESS = "directory-server"
PORT_OFFSETS = {"object": 0, "container": 1, "account": 2}
#: the erasure-coded policy of an all-in-one cluster: 4 data + 2 parity fragments
EC_POLICY_NAME = "ec42"
EC_DATA, EC_PARITY = 4, 2


def daemons_process(node: int) -> str:
    """The name of the process that runs every daemon of ``node``."""
    return f"daemons-{node}"


def default_state_dir() -> str:
    """The per-user default directory (``$XDG_STATE_HOME/oiofs/allinone``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "oiofs", "allinone")


@dataclass(frozen=True)
class Layout:
    """Paths and ports of one all-in-one cluster."""

    root: str
    nodes: int = 4
    replicas: int = 3
    port_base: int = 8080
    part_power: int = 8
    ip: str = "127.0.0.1"
    #: ``sqlite`` (databases on the nodes' devices) or ``redis`` (one shared Redis)
    account_backend: str = "sqlite"
    #: with an erasure-coded policy ``ec42`` (index 1) beside the replicated default
    ec_policy: bool = True

    @property
    def has_ec_policy(self) -> bool:
        """True if the cluster has the ec42 policy (it needs 6 devices: 3 nodes)."""
        return self.ec_policy and 2 * self.nodes >= EC_DATA + EC_PARITY

    @property
    def redis_port(self) -> int:
        """The port of the accounts' Redis (with ``account_backend = redis``)."""
        return self.port_base + REDIS_PORT_OFFSET

    @property
    def redis_url(self) -> str:
        return f"redis://{self.ip}:{self.redis_port}/0"

    @property
    def redis_dir(self) -> str:
        """The Redis data directory (its append-only file)."""
        return os.path.join(self.root, "data", "redis")

    @property
    def redis_conf(self) -> str:
        return os.path.join(self.etc, "redis.conf")

    @property
    def directory_port(self) -> int:
        """The port of the directory."""
        return self.port_base + DIRECTORY_PORT_OFFSET

    @property
    def directory_url(self) -> str:
        """The directory's endpoint (every server's ``directory_endpoints``)."""
        return f"http://{self.ip}:{self.directory_port}"

    @property
    def directory_conf(self) -> str:
        return os.path.join(self.etc, "directory-server.conf")

    @property
    def directory_db(self) -> str:
        """The directory's sqlite store."""
        return os.path.join(self.root, "data", "directory", "directory.db")

    def location(self, node: int) -> str:
        """The conscience location of ``node``'s servers, ``region.zone.host.device``
        (the rings' region 1, zone ``node``).

        >>> Layout(root="/tmp/x").location(2)
        '1.2.node2.d2'
        """
        return f"1.{node}.node{node}.{self.device_name(node)}"

    @property
    def etc(self) -> str:
        """Directory of ``oiofs.conf``, rings and server configs (the ``oiofs_dir``)."""
        return os.path.join(self.root, "etc")

    @property
    def run(self) -> str:
        """Directory of pid files."""
        return os.path.join(self.root, "run")

    @property
    def log(self) -> str:
        """Directory of log files."""
        return os.path.join(self.root, "log")

    @property
    def proxy_port(self) -> int:
        """The proxy's port."""
        return self.port_base

    @property
    def proxy_url(self) -> str:
        """Base URL of the proxy."""
        return f"http://{self.ip}:{self.proxy_port}"

    @property
    def auth_url(self) -> str:
        """The tempauth v1 URL clients authenticate against."""
        return self.proxy_url + "/auth/v1.0"

    def node_numbers(self) -> range:
        """Node numbers, 1-based."""
        return range(1, self.nodes + 1)

    def port(self, node: int, server_type: str) -> int:
        """The port of ``server_type`` on ``node``."""
        return self.port_base + 10 * node + PORT_OFFSETS[server_type]

    def devices(self, node: int) -> str:
        """The ``devices`` directory of ``node``."""
        return os.path.join(self.root, "data", f"node{node}")

    def recon_cache(self, node: int) -> str:
        """The ``recon_cache_path`` of ``node``: its daemons' pass stats for ``/recon``."""
        return os.path.join(self.root, "cache", f"node{node}")

    def device_name(self, node: int) -> str:
        """The name of the device of ``node`` (every ring uses it)."""
        return f"d{node}"

    def ec_device_name(self, node: int) -> str:
        """The name of the second device of ``node`` (the ec42 ring only)."""
        return f"d{node}ec"

    def server_conf(self, node: int, server_type: str) -> str:
        """Path of the config file of ``server_type`` on ``node``."""
        return os.path.join(self.etc, f"node{node}", f"{server_type}-server.conf")

    @property
    def proxy_conf(self) -> str:
        """Path of the proxy's config file."""
        return os.path.join(self.etc, "proxy-server.conf")

    def process_names(self, node: int | None = None, daemons: bool = True) -> list[str]:
        """Names of the processes of ``node`` (or of the whole cluster, proxy included).

        Servers come first, then (with ``daemons``) each node's one process of daemons,
        ``daemons-<node>`` (every daemon of the node in one process).
        """
        nodes = [node] if node else list(self.node_numbers())
        names = [f"{t}-server-{n}" for n in nodes for t in SERVER_TYPES]
        if daemons:
            names += [daemons_process(n) for n in nodes]
        if node:
            return names
        redis = ["redis-server"] if self.account_backend == "redis" else []
        return ["proxy-server", DIRECTORY_PROCESS] + names + redis
