"""A real all-in-one cluster for functional and probe tests.

Built with :class:`oiofs.cli.allinone.AllInOne` in a temporary directory, on a free range of
ports, with a small partition power and one proxy worker to stay lean on 2 cores.
"""

from __future__ import annotations

import http.client
import random
import shutil
import tempfile
import time

from oiofs.cli.allinone import AllInOne, processes
from oiofs.cli.allinone.cluster import AllInOneError
from oiofs.cli.allinone.layout import SERVER_TYPES
from tests.support.scores import wait_proxy_sees_node
from tests.support.servers import port_free, server_port_candidates
from tests.support.waiting import wait_for


def free_port_base(nodes: int) -> int:
    """A port base whose proxy and node ports are all free right now."""
    candidates = server_port_candidates()
    for _ in range(200):
        base = random.randrange(candidates.start, candidates.stop - 100, 100)
        ports = [base, base + 8, base + 9] + [base + 10 * n + k for n in range(1, nodes + 1)
                                    for k in range(3)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range found")


class TestCluster:
    """An :class:`AllInOne` plus conveniences for tests (auth, node control)."""

    __test__ = False  # not a test class for pytest

    def __init__(self, nodes: int = 4, replicas: int = 3, part_power: int = 6,
                 proxy_workers: int = 1, daemons: bool = True,
                 account_backend: str = "sqlite", server_workers: int = 0):
        self.root = tempfile.mkdtemp(prefix="oiofs-cluster-")
        self.aio = AllInOne(self.root, nodes=nodes, replicas=replicas,
                            port_base=free_port_base(nodes), part_power=part_power,
                            proxy_workers=proxy_workers, daemons=daemons,
                            account_backend=account_backend,
                            server_workers=server_workers)
        self.layout = self.aio.layout

    def start(self) -> TestCluster:
        """Start every server; on failure, stop what started and re-raise.

        A port taken between the free-port check and the bind (another test run on this
        machine) fails the start; it is tried once more on a fresh range of ports.
        """
        for attempt in (1, 2):
            try:
                self.aio.start()
                return self
            except AllInOneError:
                self.aio.stop()
                if attempt == 2:
                    raise
                self._move_to_new_ports()
        return self

    def _move_to_new_ports(self) -> None:
        lay = self.layout
        fresh = AllInOne(tempfile.mkdtemp(prefix="oiofs-cluster-"), nodes=lay.nodes,
                         replicas=lay.replicas, port_base=free_port_base(lay.nodes),
                         part_power=lay.part_power, proxy_workers=self.aio.proxy_workers,
                         daemons=self.aio.daemons, account_backend=lay.account_backend,
                         server_workers=self.aio.server_workers)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root, self.aio, self.layout = fresh.layout.root, fresh, fresh.layout

    def destroy(self) -> None:
        """Stop every process and remove the cluster's directory."""
        try:
            self.aio.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- what tests need ------------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        return self.layout.proxy_url

    @property
    def auth_url(self) -> str:
        return self.layout.auth_url

    @property
    def oiofs_dir(self) -> str:
        return self.layout.etc

    @property
    def users(self) -> dict[str, str]:
        return self.aio.users

    @property
    def nodes(self) -> list[dict]:
        """Per node: its number, the ports of its servers and its devices directory."""
        lay = self.layout
        return [{"node": n, "devices": lay.devices(n), "device": lay.device_name(n),
                 # the second device, of the erasure-coded policy's ring only
                 "ec_device": lay.ec_device_name(n) if lay.has_ec_policy else None,
                 **{f"{t}_port": lay.port(n, t) for t in SERVER_TYPES}}
                for n in lay.node_numbers()]

    def stop_node(self, node: int) -> None:
        self.aio.stop_node(node)

    def kill_node(self, node: int) -> None:
        self.aio.kill_node(node)

    def start_node(self, node: int) -> None:
        """Start ``node`` and return once the proxy knows it is back (else, for a few
        seconds, it may take the node for down and write to handoffs instead)."""
        started_at = time.time()
        self.aio.start_node(node)
        wait_proxy_sees_node(self.layout, node, started_at)

    def kill_proxy(self) -> None:
        """SIGKILL the proxy: every client connection is cut mid-flight, as in a crash."""
        processes.kill_process("proxy-server", self.layout.run, self.layout.root)

    def start_proxy(self) -> None:
        """Start the proxy again and return once it accepts connections."""
        lay = self.layout
        self.aio._start("proxy-server", processes.server_argv("proxy", lay.proxy_conf))
        self.aio._wait([lay.proxy_port])

    def rewrite_proxy_conf(self, edit) -> None:
        """Change the proxy's config file with ``edit(text) -> text`` and restart it."""
        conf = self.layout.proxy_conf
        with open(conf) as handle:
            text = handle.read()
        with open(conf, "w") as handle:
            handle.write(edit(text))
        processes.stop_process("proxy-server", self.layout.run, self.layout.root)
        self.start_proxy()

    def auth(self, user: str = "test:tester", key: str | None = None) -> tuple[str, str]:
        """Authenticate through tempauth; ``(storage_url, token)``."""
        key = self.users[user] if key is None else key

        def authenticate() -> http.client.HTTPResponse | None:
            conn = http.client.HTTPConnection("127.0.0.1", self.layout.proxy_port, timeout=10)
            try:
                conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": user,
                                                           "X-Auth-Key": key})
                resp = conn.getresponse()
                resp.read()
            finally:
                conn.close()
            return resp if resp.status // 100 == 2 else None

        resp = wait_for(authenticate, 10, f"tempauth to authenticate {user}", interval=0.1)
        return resp.getheader("X-Storage-Url"), resp.getheader("X-Auth-Token")
