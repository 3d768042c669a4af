"""The proxy's view of the conscience: each storage server's score, cached and refreshed.

With ``directory_endpoints`` set, each proxy worker keeps the scores of every registered
service by address (``ip:port``) and refreshes them every ``conscience_refresh_interval``
seconds (5) from a green thread of its own (:meth:`ScoreBoard.start`), whether requests
come or not: an idle proxy's first request sees scores at most one interval old, and no
request ever waits for (or checks on) the directory. What the backend does with them:

* a node whose server scores 0 (silent past the conscience's timeout, or locked at 0 by
  an operator) is *avoided* like an error-limited node (:mod:`oiofs.proxy.error_limiter`):
  writes give its slot to a handoff and reads go to the other replicas first, so it gets
  no client traffic; it is still asked as a last resort when no other node is left;
* reads order the replicas at random weighted by score, so a higher score is asked first
  more often (:meth:`ScoreBoard.weighted_order`).

When the directory cannot be reached the last scores read are kept (and the failure is
logged at most once per interval): data traffic never depends on the directory. A server
the conscience does not know is treated as it would be without a directory.
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Any, TypeVar

from oiofs.common import runtime
from oiofs.common.config import conf_float
from oiofs.common.logger import RepeatLimiter
from oiofs.directory.client import ConscienceClient, directory_endpoints
from oiofs.directory.errors import DirectoryError

N = TypeVar("N", bound=dict)  # a ring node

#: the weight of a server the conscience does not know, among scored ones
UNKNOWN_WEIGHT = 50


class ScoreBoard:
    """Scores by ``ip:port``, as last read from the conscience."""

    def __init__(self, client: ConscienceClient, logger: logging.Logger,
                 refresh_interval: float = 5.0, rng: random.Random | None = None):
        self.client = client
        self.logger = logger
        self.refresh_interval = refresh_interval
        self.rng = rng or random.Random()
        self.scores: dict[str, int] = {}
        #: ``time.monotonic()`` of the last successful read (``None``: never read)
        self.fetched_at: float | None = None
        #: the process whose green thread refreshes the scores (``None``: stopped)
        self._owner_pid: int | None = None
        self._fork_hook = False
        self.repeats = RepeatLimiter(refresh_interval)

    def refresh(self) -> bool:
        """Read every service's score now; ``False`` (the old scores kept) on failure."""
        # who reads, in the directory's access log: each worker refreshes on its own
        self.client.user_agent = f"oiofs-proxy-scores/{os.getpid()}"
        try:
            services = self.client.list_services()
        except (DirectoryError, OSError, ValueError) as err:
            self.repeats.log(self.logger, logging.WARNING, "conscience",
                             "cannot read scores from the directory (keeping the last "
                             "known): %s", err)
            return False
        scores: dict[str, int] = {}
        for service in services:
            addr = service.get("addr")
            if isinstance(addr, str):
                # two services at one address: the lower score counts
                scores[addr] = min(int(service.get("score", 0)), scores.get(addr, 100))
        self.scores = scores
        self.fetched_at = time.monotonic()
        return True

    def start(self) -> None:
        """Refresh every ``refresh_interval`` seconds from a green thread of this process,
        and of every process forked from it from now on (each proxy worker has its own:
        the thread copied by a fork stops at its next wake-up, the child starts a fresh
        one). Idempotent per process."""
        if self._owner_pid == os.getpid():
            return
        self._owner_pid = pid = os.getpid()
        runtime.spawn_n(self._refresh_forever, pid)
        if not self._fork_hook:
            self._fork_hook = True
            os.register_at_fork(after_in_child=self._restart_after_fork)

    def stop(self) -> None:
        """Stop refreshing (the thread ends at its next wake-up); the scores stay."""
        self._owner_pid = None

    def _restart_after_fork(self) -> None:
        if self._owner_pid is not None:  # not stopped: the child refreshes on its own
            self.start()

    def _refresh_forever(self, pid: int) -> None:
        while True:
            runtime.sleep(self.refresh_interval)
            if self._owner_pid != pid or os.getpid() != pid:
                return  # stopped, or a copy made by a fork (the child runs its own)
            try:
                self.refresh()
            except Exception:  # never let the thread die: old scores would stay forever
                self.logger.exception("refreshing the conscience scores")

    def score(self, addr: str) -> int | None:
        """The score of the server at ``addr`` (``None``: unknown)."""
        return self.scores.get(addr)

    def is_drained(self, addr: str) -> bool:
        """True if the server at ``addr`` scores 0: requests should avoid it."""
        return self.scores.get(addr) == 0

    def weighted_order(self, nodes: list[N]) -> list[N]:
        """``nodes`` in a random order where a higher score tends to come first (each
        node's chance of being first is proportional to its score)."""
        if not self.scores:
            shuffled = list(nodes)
            self.rng.shuffle(shuffled)
            return shuffled

        def key(node: dict[str, Any]) -> float:
            weight = self.scores.get(f"{node['ip']}:{node['port']}", UNKNOWN_WEIGHT)
            return self.rng.random() ** (1.0 / max(weight, 1))

        return sorted(nodes, key=key, reverse=True)


def make_scoreboard(conf: dict[str, Any], logger: logging.Logger,
                    refresh_interval: float) -> ScoreBoard | None:
    """The proxy's :class:`ScoreBoard` if ``conf`` names a directory (first read now, best
    effort, within one second; then refreshed in the background), else ``None``."""
    if not directory_endpoints(conf):
        return None
    board = ScoreBoard(ConscienceClient(conf, timeout=1.0), logger, refresh_interval)
    board.refresh()
    board.client.timeout = conf_float(conf, "directory_timeout", 5.0)  # from now on
    board.start()
    return board
