"""The :class:`AllInOne` cluster and the ``oiofs-allinone`` command.

``start`` writes rings and configs and starts the servers, returning when all answer;
``stop_node`` is a fault drill (node 2's servers stop):

>>> aio = AllInOne("/tmp/aio", nodes=4, replicas=3, port_base=8080)  # doctest: +SKIP
>>> aio.start()                                                      # doctest: +SKIP
>>> aio.stop_node(2)                                                 # doctest: +SKIP
>>> aio.stop()                                                       # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from oiofs.cli.allinone import configs, processes
from oiofs.cli.allinone.layout import (
    ACCOUNT_BACKENDS,
    DIRECTORY_PROCESS,
    EC_DATA,
    EC_PARITY,
    SERVER_TYPES,
    Layout,
    daemons_process,
    default_state_dir,
)
from oiofs.cli.daemon import DAEMONS, daemons_of, unknown_daemon
from oiofs.cli.output import say

#: the options that give a cluster its shape, saved when it is made (``allinone.json``)
SHAPE_OPTIONS = ("nodes", "replicas", "port_base", "part_power", "account_backend")


class AllInOneError(Exception):
    """The cluster could not be started or is not in the asked state."""


class AllInOne:
    """A whole cluster on this machine: a proxy and N nodes of three storage servers."""

    def __init__(self, root: str | None = None, nodes: int = 4, replicas: int = 3,
                 port_base: int = 8080, part_power: int = 8, proxy_workers: int = 2,
                 daemons: bool = True, progress: Callable[[str], None] | None = None,
                 account_backend: str | None = None, server_workers: int = 0):
        root = os.path.abspath(root or default_state_dir())
        if account_backend is not None and account_backend not in ACCOUNT_BACKENDS:
            raise AllInOneError(f"unknown account backend {account_backend!r} "
                                f"(one of {', '.join(ACCOUNT_BACKENDS)})")
        #: told what the cluster is doing, as it goes (the command prints it; tests don't)
        self.progress = progress or (lambda message: None)
        saved = configs.load_layout(root)
        # A cluster keeps the shape it was made with: its rings and data depend on it.
        self.layout = saved or Layout(root=root, nodes=nodes, replicas=replicas,
                                      port_base=port_base, part_power=part_power,
                                      account_backend=account_backend or "sqlite")
        if (saved is not None and account_backend is not None
                and account_backend != saved.account_backend):
            raise AllInOneError(f"this cluster keeps its accounts in "
                                f"{saved.account_backend}; it cannot switch to "
                                f"{account_backend}")
        self.proxy_workers = proxy_workers
        #: worker processes of each storage server (0: it serves in its one process)
        self.server_workers = server_workers
        self.daemons = daemons
        if replicas > self.layout.nodes and saved is None:
            raise AllInOneError(f"{replicas} replicas need at least {replicas} nodes")

    # --- set-up -----------------------------------------------------------------------

    def _ring_builder(self, *args: str) -> None:
        argv = [sys.executable, "-m", "oiofs.cli.ring_builder", *args]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode not in (0, 1):  # 1 is a warning, e.g. nothing to move
            raise AllInOneError(f"ring builder {' '.join(args)} failed: "
                                f"{result.stdout}{result.stderr}")

    def build_rings(self) -> None:
        """Create the account, container and object rings unless they exist."""
        lay = self.layout
        for server_type in SERVER_TYPES:
            self._build_ring(server_type, server_type, lay.replicas,
                             [(node, lay.device_name(node)) for node in lay.node_numbers()])
        if lay.has_ec_policy:
            self._build_ring("object-1", "object", EC_DATA + EC_PARITY, [
                (node, name) for node in lay.node_numbers()
                for name in (lay.device_name(node), lay.ec_device_name(node))])

    def _build_ring(self, name: str, server_type: str, replicas: int,
                    devices: list[tuple[int, str]]) -> None:
        """Build ring ``name`` over ``(node, device)`` pairs (at the ``server_type``
        servers' ports) unless it exists."""
        lay = self.layout
        builder = os.path.join(lay.etc, f"{name}.builder")
        ring = os.path.join(lay.etc, f"{name}.ring.gz")
        if os.path.exists(ring) and os.path.exists(builder):
            return
        if os.path.exists(builder):
            os.unlink(builder)
        self._ring_builder(builder, "create", str(lay.part_power), str(replicas), "0")
        for node, device in devices:
            self._ring_builder(builder, "add",
                               f"r1z{node}-{lay.ip}:{lay.port(node, server_type)}/{device}",
                               "100")
        self._ring_builder(builder, "rebalance", "--seed", "1")
        if not os.path.exists(ring):
            raise AllInOneError(f"rebalance did not write {ring}")

    def prepare(self) -> None:
        """Write everything the cluster needs on disk (idempotent; keeps data and secrets)."""
        lay = self.layout
        self.progress(f"preparing configuration and rings in {lay.root}")
        for path in (lay.etc, lay.run, lay.log):
            os.makedirs(path, exist_ok=True)
        configs.write_cluster_conf(lay)
        configs.save_layout(lay)
        self.build_rings()
        configs.write_server_confs(lay, workers=self.server_workers)
        configs.write_proxy_conf(lay, workers=self.proxy_workers)
        configs.write_directory_conf(lay)
        if lay.account_backend == "redis":
            os.makedirs(lay.redis_dir, exist_ok=True)
            configs.write_redis_conf(lay)

    def start_redis(self) -> None:
        """Start the accounts' Redis (``--account-backend redis``) and wait for it."""
        lay = self.layout
        server = shutil.which("redis-server")
        if server is None:
            raise AllInOneError("--account-backend redis needs redis-server "
                                "(install.sh installs it)")
        self.progress(f"starting redis-server for the accounts on {lay.ip}:{lay.redis_port}")
        self._start("redis-server", [server, lay.redis_conf])
        self._wait([lay.redis_port])

    def start_directory(self, wait: bool = True) -> None:
        """Start the directory (the servers register there; the proxy reads scores)."""
        lay = self.layout
        self.progress(f"starting the directory on {lay.ip}:{lay.directory_port}")
        self._start(DIRECTORY_PROCESS, processes.server_argv("directory", lay.directory_conf))
        if wait:
            self._wait([lay.directory_port])

    def stop_directory(self) -> bool:
        """Stop the directory (the cluster keeps serving); True if it ran."""
        return processes.stop_process(DIRECTORY_PROCESS, self.layout.run, self.layout.root)

    # --- processes --------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> None:
        processes.start_process(name, argv, self.layout.run, self.layout.log,
                                marker=self.layout.root)

    def start_node(self, node: int, wait: bool = True, daemons: bool | None = None) -> None:
        """Start the storage servers of ``node`` and, unless told not to, its daemons."""
        lay = self.layout
        with_daemons = self.daemons if daemons is None else daemons
        self.progress(f"starting node {node}: account, container and object servers"
                      + (" and their daemons" if with_daemons else ""))
        for server_type in SERVER_TYPES:
            self._start(f"{server_type}-server-{node}",
                        processes.server_argv(server_type, lay.server_conf(node, server_type)))
        if with_daemons:  # every daemon of the node, in one process
            name = daemons_process(node)
            self._start(name, processes.daemon_group_argv(
                [lay.server_conf(node, t) for t in SERVER_TYPES], name))
        if wait:
            self._wait([lay.port(node, t) for t in SERVER_TYPES])

    def run_once(self, name: str, nodes: list[int] | None = None,
                 timeout: float = 600.0) -> dict[int, int]:
        """Run one pass of daemon ``name`` on every node (or ``nodes``) at once.

        Returns ``{node: exit status}`` once all passes ended; the output goes to
        ``log/<name>-<node>.once.log``.
        """
        server_type = name.split("-", 1)[0]
        if name not in daemons_of(server_type):
            raise AllInOneError(unknown_daemon(name))
        lay = self.layout
        running = {}
        for node in nodes or lay.node_numbers():
            log = open(os.path.join(lay.log, f"{name}-{node}.once.log"), "ab")
            running[node] = (subprocess.Popen(
                processes.daemon_argv(name, lay.server_conf(node, server_type), once=True),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log), log)
        results = {}
        for node, (proc, log) in running.items():
            try:
                results[node] = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                results[node] = proc.wait()
            finally:
                log.close()
        return results

    def _with_legacy(self, names: list[str], node: int | None = None) -> list[str]:
        """``names`` plus the one-process-per-daemon names (``object-replicator-2``) that
        have a pid file: a cluster started before daemons were grouped stops whole."""
        nodes = [node] if node else list(self.layout.node_numbers())
        legacy = [f"{d}-{n}" for n in nodes for d in DAEMONS]
        return names + [name for name in legacy
                        if os.path.exists(processes.pid_path(self.layout.run, name))]

    def stop_node(self, node: int) -> None:
        """Stop the storage servers of ``node`` (graceful)."""
        for name in self._with_legacy(self.layout.process_names(node), node):
            processes.stop_process(name, self.layout.run, self.layout.root)

    def kill_node(self, node: int) -> None:
        """Kill the storage servers of ``node`` with SIGKILL (a crash)."""
        for name in self.layout.process_names(node):
            processes.kill_process(name, self.layout.run, self.layout.root)

    def start(self) -> None:
        """Prepare, start every server, and return once all answer."""
        began = time.monotonic()
        self.prepare()
        lay = self.layout
        if lay.account_backend == "redis":
            self.start_redis()
        self.start_directory(wait=False)
        for node in lay.node_numbers():
            self.start_node(node, wait=False)
        self.progress(f"starting the proxy on {lay.ip}:{lay.proxy_port}")
        self._start("proxy-server", processes.server_argv("proxy", lay.proxy_conf))
        ports = [lay.port(n, t) for n in lay.node_numbers() for t in SERVER_TYPES]
        ports += [lay.directory_port, lay.proxy_port]
        self.progress(f"waiting for {len(ports)} servers to answer")
        self._wait(ports)
        self.progress("checking the proxy's health")
        self._check_health()
        self.progress(f"cluster up in {time.monotonic() - began:.1f} s")

    def stop(self) -> list[str]:
        """Stop everything this cluster started; the names of what was running."""
        stopped = []
        # the proxy first (no new client writes), then the daemons, then the servers (the
        # directory last of them)
        names = self._with_legacy(self.layout.process_names())
        names.remove(DIRECTORY_PROCESS)
        names.append(DIRECTORY_PROCESS)
        servers = [n for n in names if "-server" in n and n != "proxy-server"]
        daemons = [n for n in names if n not in servers and n != "proxy-server"]
        for name in ["proxy-server"] + daemons + servers:
            if processes.stop_process(name, self.layout.run, self.layout.root):
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, dict]:
        """For each process: its pid (or None), its port (servers) and whether it answers."""
        lay = self.layout
        result = {}
        for name in lay.process_names():
            pid = processes.read_pid(lay.run, name, lay.root)
            port = None
            if name == "proxy-server":
                port = lay.proxy_port
            elif name == "redis-server":
                port = lay.redis_port
            elif name == DIRECTORY_PROCESS:
                port = lay.directory_port
            elif "-server-" in name:
                server_type, _, node = name.rpartition("-server-")
                port = lay.port(int(node), server_type)
            result[name] = {"pid": pid, "port": port, "listening": bool(
                port and processes.port_open(lay.ip, port))}
        return result

    def differences(self, given: dict[str, object]) -> list[str]:
        """What of ``given`` (``{"nodes": 3, ...}``, options given on the command line)
        differs from the cluster's saved shape, which is the one used."""
        return [f"--{key.replace('_', '-')} {value} differs from the saved cluster's "
                f"{getattr(self.layout, key)}" for key, value in given.items()
                if key in SHAPE_OPTIONS and value is not None
                and value != getattr(self.layout, key)]

    def _wait(self, ports: list[int]) -> None:
        def progress(answering: int, total: int) -> None:
            self.progress(f"{answering}/{total} servers answer")

        missing = processes.wait_for_ports(self.layout.ip, ports, progress=progress)
        if missing:
            details = []
            for name, info in self.status().items():
                if info["port"] in missing:
                    details.append(f"{name} (pid {info['pid']}): "
                                   f"{self._log_tail(name) or 'no output'}")
            raise AllInOneError(f"servers on ports {missing} did not start; see "
                                f"{self.layout.log}\n" + "\n".join(details))

    def _log_tail(self, name: str, lines: int = 3) -> str:
        try:
            with open(os.path.join(self.layout.log, f"{name}.log"), errors="replace") as log:
                return " | ".join(line.strip() for line in log.readlines()[-lines:])
        except OSError:
            return ""

    def _check_health(self) -> None:
        url = self.layout.proxy_url + "/healthcheck"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = resp.read()
        except OSError as err:
            raise AllInOneError(f"proxy health check failed: {err}") from err
        if body.strip() != b"OK":
            raise AllInOneError(f"proxy health check answered {body!r}")

    # --- for users ----------------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        """The tempauth v1 URL."""
        return self.layout.auth_url

    @property
    def users(self) -> dict[str, str]:
        """``{"account:user": key}`` of the users the proxy knows."""
        return {f"{a}:{u}": k for a, u, k, _ in configs.USERS}

    def describe(self) -> str:
        """What a user needs to know to use the cluster."""
        lay = self.layout
        lines = [f"oiofs all-in-one: {lay.nodes} nodes, {lay.replicas} replicas, in {lay.root}",
                 f"  auth URL: {lay.auth_url}", "  users:"]
        for account, user, key, groups in configs.USERS:
            role = "admin" if ".admin" in groups else "member"
            lines.append(f"    {account}:{user} / {key}  ({role} of AUTH_{account})")
        lines.append(f"  try: swift -A {lay.auth_url} -U test:tester -K testing stat")
        return "\n".join(lines)


def _say(message: str) -> None:
    say(f"oiofs-allinone: {message}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``oiofs-allinone {start,stop,status}``."""
    parser = argparse.ArgumentParser(prog="oiofs-allinone",
                                     description="Run a whole oiofs cluster on this machine.")
    parser.add_argument("command", choices=["start", "stop", "status", "restart", "once"])
    parser.add_argument("daemon", nargs="?", help="with once: the daemon to run one pass of")
    parser.add_argument("--dir", default=None,
                        help=f"cluster directory (default {default_state_dir()})")
    # shape options default to None: told apart from a value given, to say when it differs
    # from the saved cluster's (which wins)
    parser.add_argument("--nodes", type=int, default=None, help="with a new cluster (4)")
    parser.add_argument("--replicas", type=int, default=None, help="with a new cluster (3)")
    parser.add_argument("--port-base", type=int, default=None,
                        help="with a new cluster (8080): proxy port; node N uses "
                             "port-base + 10*N .. +2")
    parser.add_argument("--part-power", type=int, default=None,
                        help="with a new cluster (8)")
    parser.add_argument("--proxy-workers", type=int, default=2)
    parser.add_argument("--server-workers", type=int, default=0,
                        help="worker processes of each storage server (default 0: each "
                             "serves in its one process)")
    parser.add_argument("--account-backend", choices=ACCOUNT_BACKENDS, default=None,
                        help="with start of a new cluster: where accounts are kept (sqlite "
                             "databases on the nodes, the default, or a redis-server of "
                             "the cluster's own)")
    parser.add_argument("--no-daemons", action="store_true",
                        help="with start: servers only, no background daemons (benchmarks)")
    parser.add_argument("--node", type=int, default=None,
                        help="with start/stop: only this node's servers")
    args = parser.parse_args(argv)
    given = {key: getattr(args, key) for key in SHAPE_OPTIONS}
    defaults = {"nodes": 4, "replicas": 3, "port_base": 8080, "part_power": 8}
    try:
        aio = AllInOne(args.dir, **{k: v if v is not None else defaults[k]
                                    for k, v in given.items() if k in defaults},
                       proxy_workers=args.proxy_workers, server_workers=args.server_workers,
                       daemons=not args.no_daemons, progress=_say,
                       account_backend=args.account_backend)
        if args.command != "status":
            for difference in aio.differences(given):
                say(f"oiofs-allinone: note: {difference}; the saved shape is used",
                    sys.stderr)
        if args.node is not None and not 1 <= args.node <= aio.layout.nodes:
            parser.error(f"--node must be between 1 and {aio.layout.nodes}")
        if args.command in ("stop", "restart"):
            if args.node:
                aio.stop_node(args.node)
                say(f"stopped node {args.node}")
            else:
                stopped = aio.stop()
                say(f"stopped {len(stopped)} process(es)")
        if args.command in ("start", "restart"):
            if args.node:
                aio.start_node(args.node)
                say(f"started node {args.node}")
            else:
                aio.start()
                say(aio.describe())
        if args.command == "once":
            if not args.daemon:
                parser.error("once needs a daemon name")
            nodes = [args.node] if args.node else None
            results = aio.run_once(args.daemon, nodes)
            for node, status in sorted(results.items()):
                say(f"{args.daemon} on node {node}: exit {status}")
            return 0 if not any(results.values()) else 1
        if args.command == "status":
            for difference in aio.differences(given):
                say(f"note: {difference} (the cluster keeps the shape it was made with)")
            running = 0
            for name, info in aio.status().items():
                state = "running" if info["pid"] else "stopped"
                running += bool(info["pid"])
                where = ""
                if info["port"]:
                    up = "listening" if info["listening"] else "not listening"
                    where = f"port={info['port']} {up}"
                say(f"{name:26} {state:8} pid={info['pid'] or '-':<8} {where}")
            return 0 if running else 3
    except AllInOneError as err:
        print(f"oiofs-allinone: {err}", file=sys.stderr)
        return 1
    return 0
