"""A mixed workload of concurrent clients that records its history, and a nemesis that
kills and restarts storage nodes under it: the driver of the consistency probe test
(tests/probe/test_consistency_history.py) and of bench/consistency_bench.py.

Each client thread has its own keep-alive connection to the proxy and draws operations
on a fixed set of keys of one container: PUT (a new value, also stored as the metadata
item ``X-Object-Meta-V`` so that a HEAD can tell which version it saw), DELETE, GET,
HEAD, and a JSON listing of the container. Every operation is recorded as an
:class:`~tests.support.history.Op`; :func:`tests.support.history.check` judges them.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.history import History, Op
from tests.support.proxy_client import Client

#: operation mix: kind -> weight
DEFAULT_MIX = {"write": 30, "delete": 12, "read": 30, "head": 13, "list": 15}


@dataclass
class Target:
    """Where the workload goes: a storage URL and a token (tempauth), one container."""

    storage_url: str
    token: str
    container: str


def make_client(target: Target) -> Client:
    return Client(None, user=None, storage_url=target.storage_url, token=target.token)


def do_op(client: Client, target: Target, op: Op) -> None:
    """Run ``op`` (invoked already) through ``client`` and fill in its outcome."""
    path = f"/{target.container}/{op.key}"
    try:
        if op.kind == "write":
            resp = client.request("PUT", path, body=(op.value or "").encode(),
                                  headers={"X-Object-Meta-V": op.value or ""})
            op.ok = 200 <= resp.status < 300
        elif op.kind == "delete":
            resp = client.request("DELETE", path)
            # a 404 also left a tombstone on a quorum: the key is absent from then on
            op.ok = resp.status in (204, 404)
        elif op.kind in ("read", "head"):
            resp = client.request("GET" if op.kind == "read" else "HEAD", path)
            op.ok = resp.status in (200, 404)
            if resp.status == 200:
                op.value = (resp.body.decode() if op.kind == "read"
                            else resp.headers.get("x-object-meta-v"))
            op.kind = "read"  # both are reads of the key's value for the checker
        else:  # list
            resp = client.request("GET", f"/{target.container}?format=json",
                                  quote_path=False)
            op.ok = resp.status in (200, 204)
            if resp.status == 200:
                op.keys = frozenset(item["name"] for item in json.loads(resp.body))
        op.status = resp.status
    except (OSError, http.client.HTTPException, ValueError):
        client.close()
        op.ok = False


class Workload:
    """``clients`` threads doing random operations on ``keys`` until ``stop`` is set or
    each did ``ops_per_client`` (:meth:`run`)."""

    def __init__(self, target: Target, keys: list[str], clients: int = 4,
                 mix: dict[str, int] | None = None, seed: int | None = None,
                 pause: float = 0.0):
        self.target = target
        self.keys = keys
        self.clients = clients
        self.mix = mix or DEFAULT_MIX
        self.rng = random.Random(seed)
        self.pause = pause
        self.history = History()
        self.stop = threading.Event()
        self._counter = 0
        self._lock = threading.Lock()

    def _next_value(self, client_no: int) -> str:
        with self._lock:
            self._counter += 1
            return f"c{client_no}-v{self._counter}"

    def _client_loop(self, client_no: int, ops: int, rng: random.Random) -> None:
        client = make_client(self.target)
        kinds, weights = zip(*self.mix.items(), strict=True)
        try:
            for _ in range(ops):
                if self.stop.is_set():
                    return
                kind = rng.choices(kinds, weights)[0]
                key = rng.choice(self.keys) if kind != "list" else ""
                value = self._next_value(client_no) if kind == "write" else None
                op = self.history.begin(kind, key, value, client=client_no)
                do_op(client, self.target, op)
                self.history.end(op)
                if self.pause:
                    time.sleep(self.pause)
        finally:
            client.close()

    def run(self, ops_per_client: int) -> History:
        """Run every client to its end (or :attr:`stop`); the history so far."""
        threads = [threading.Thread(target=self._client_loop,
                                    args=(n, ops_per_client,
                                          random.Random(self.rng.random())),
                                    daemon=True)
                   for n in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.history


class Nemesis:
    """Kills (SIGKILL) or stops (SIGSTOP) one storage node at a time and brings it back:
    ``cycle(node, down_for)``. ``cluster`` has ``kill_node``, ``start_node``; with
    ``pause=True`` the node's servers are frozen with SIGSTOP and thawed with SIGCONT
    (``freeze``/``thaw`` callables)."""

    def __init__(self, cluster, freeze: Callable[[int], None] | None = None,
                 thaw: Callable[[int], None] | None = None):
        self.cluster = cluster
        self.freeze = freeze
        self.thaw = thaw
        self.events: list[tuple[float, str, int]] = []

    def down(self, node: int) -> None:
        self.events.append((time.monotonic(), "down", node))
        if self.freeze is not None:
            self.freeze(node)
        else:
            self.cluster.kill_node(node)

    def up(self, node: int) -> None:
        if self.thaw is not None:
            self.thaw(node)
        else:
            self.cluster.start_node(node)
        self.events.append((time.monotonic(), "up", node))

    def run(self, nodes: list[int], cycles: int, down_for: float, up_for: float,
            rng: random.Random, then: threading.Event | None = None) -> None:
        """``cycles`` times: a node down for ``down_for`` s, then every node up for
        ``up_for`` s (the nodes in a random order, each in turn); then set ``then`` (e.g.
        the workload's :attr:`Workload.stop`)."""
        order = rng.sample(nodes, len(nodes))
        try:
            for cycle in range(cycles):
                node = order[cycle % len(order)]
                self.down(node)
                try:
                    time.sleep(down_for)
                finally:
                    self.up(node)
                time.sleep(up_for)
        finally:
            if then is not None:
                then.set()
