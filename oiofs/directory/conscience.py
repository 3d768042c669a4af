"""The conscience: which services exist, where they are, and what each one scores.

A service registers itself every few seconds with a record like::

    {"type": "object", "addr": "127.0.0.1:6200", "id": "127.0.0.1:6200",
     "score": 87, "tags": {"tag.loc": "1.2.node2.d2", "tag.vers": "0.1.0",
                           "stat.load": 0.4, "stat.space": 61.5}}

The score (0..100) is computed by the service from its own load and free space
(:func:`compute_score`); the conscience stores it with the time it heard it. What a client
reads is the *effective* score (:meth:`Conscience.effective_score`):

* a locked service scores what the operator locked it at (``lock 0`` drains it);
* a service not heard from within ``timeout`` seconds scores 0 (``tag.up`` false);
* otherwise the score it registered.

The records live in a :class:`~oiofs.directory.store.DirectoryStore` (namespace
``service``, key ``<type>/<addr>``), so several directory instances sharing a Redis give
the same answers.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable
from typing import Any

from oiofs.directory.errors import InvalidRequest, NoSuchService
from oiofs.directory.store import DirectoryStore, Record

NAMESPACE = "service"
#: a service type: lower-case words joined by dashes (``object``, ``account-service``)
TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_TAGS = 64
MAX_TAG_LENGTH = 256


def service_key(service_type: str, addr: str) -> str:
    """The store key of a service.

    >>> service_key("object", "127.0.0.1:6200")
    'object/127.0.0.1:6200'
    """
    return f"{service_type}/{addr}"


def check_type(value: Any) -> str:
    """``value`` if it is a valid service type, else :class:`InvalidRequest`."""
    if not isinstance(value, str) or not TYPE_RE.match(value) or len(value) > 64:
        raise InvalidRequest(f"invalid service type {value!r}")
    return value


def check_addr(value: Any) -> str:
    """``value`` if it is ``host:port`` (port 1..65535), else :class:`InvalidRequest`.

    >>> check_addr("127.0.0.1:6200")
    '127.0.0.1:6200'
    """
    if isinstance(value, str) and len(value) <= 300:
        host, _, port = value.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536 and " " not in host:
            return value
    raise InvalidRequest(f"invalid service address {value!r} (expected host:port)")


def check_score(value: Any) -> int:
    """``value`` as a score 0..100, else :class:`InvalidRequest`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequest(f"invalid score {value!r}")
    try:
        score = int(value)
    except ValueError:
        raise InvalidRequest(f"invalid score {value!r}") from None
    if not 0 <= score <= 100:
        raise InvalidRequest(f"score {score} is not between 0 and 100")
    return score


def check_registration(body: Any) -> Record:
    """The service record a registration body describes (checked and normalised)."""
    if not isinstance(body, dict):
        raise InvalidRequest("a service is a JSON object")
    tags = body.get("tags") or {}
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        raise InvalidRequest(f"tags must be an object of at most {MAX_TAGS} entries")
    for name, value in tags.items():
        if (not isinstance(name, str) or len(name) > MAX_TAG_LENGTH
                or not isinstance(value, (str, int, float, bool))
                or (isinstance(value, str) and len(value) > MAX_TAG_LENGTH)):
            raise InvalidRequest(f"invalid tag {name!r}: names are text, values scalars "
                                 f"of at most {MAX_TAG_LENGTH} characters")
    addr = check_addr(body.get("addr"))
    service_id = body.get("id") or addr
    if not isinstance(service_id, str) or len(service_id) > MAX_TAG_LENGTH:
        raise InvalidRequest(f"invalid service id {service_id!r}")
    return {"type": check_type(body.get("type")), "addr": addr, "id": service_id,
            "score": check_score(body.get("score", 0)), "tags": dict(tags)}


def compute_score(load1: float, cpus: int, free_fraction: float) -> int:
    """The score a service gives itself, 1..100, from the machine's one-minute load
    average over its CPU count and the free fraction (0..1) of its fullest device.

    Both factors count: an idle server with a full disk scores low, a busy one with room
    scores low. The score never reaches 0 by itself: 0 means down or drained, which only
    the conscience (timeout) and the operator (lock) decide.

    >>> compute_score(0.0, 2, 1.0), compute_score(2.0, 2, 1.0), compute_score(0.0, 2, 0.1)
    (100, 50, 10)
    >>> compute_score(50.0, 2, 0.0)
    1
    """
    cpu_factor = 1.0 / (1.0 + max(0.0, load1) / max(1, cpus))
    space_factor = min(1.0, max(0.0, free_fraction))
    return max(1, min(100, round(100 * cpu_factor * space_factor)))


class Conscience:
    """Registration, scores and locks of services, over a store."""

    def __init__(self, store: DirectoryStore, timeout: float = 15.0,
                 clock: Callable[[], float] = time.time):
        self.store = store
        #: seconds after its last registration at which a service scores 0
        self.timeout = timeout
        self.clock = clock

    def register(self, body: Any) -> dict[str, Any]:
        """Store (or refresh) a service from its registration; its view afterwards.

        A lock set by the operator is kept: a drained service stays drained however often
        it registers.
        """
        service = check_registration(body)
        now = self.clock()

        def change(old: Record | None) -> Record:
            service["last_seen"] = now
            service["first_seen"] = old.get("first_seen", now) if old else now
            if old and old.get("lock") is not None:
                service["lock"] = old["lock"]
            return service

        stored = self.store.update(NAMESPACE, service_key(service["type"], service["addr"]),
                                   change)
        assert stored is not None
        return self.view(stored, now)

    def lock(self, service_type: str, addr: str, score: Any) -> dict[str, Any]:
        """Pin the service's score at ``score`` (0 drains it) until :meth:`unlock`."""
        locked = check_score(score)
        return self._set_lock(service_type, addr, locked)

    def unlock(self, service_type: str, addr: str) -> dict[str, Any]:
        """Let the service's own score count again."""
        return self._set_lock(service_type, addr, None)

    def _set_lock(self, service_type: str, addr: str, score: int | None) -> dict[str, Any]:
        key = service_key(check_type(service_type), check_addr(addr))

        def change(old: Record | None) -> Record:
            if old is None:
                raise NoSuchService(f"no {service_type} service at {addr}")
            old["lock"] = score
            return old

        stored = self.store.update(NAMESPACE, key, change)
        assert stored is not None
        return self.view(stored, self.clock())

    def deregister(self, service_type: str, addr: str) -> None:
        """Forget a service (it comes back if it registers again)."""
        if not self.store.delete(NAMESPACE, service_key(check_type(service_type),
                                                        check_addr(addr))):
            raise NoSuchService(f"no {service_type} service at {addr}")

    def show(self, service_type: str, addr: str) -> dict[str, Any]:
        """The view of one service; :class:`NoSuchService` if it never registered."""
        record = self.store.get(NAMESPACE, service_key(check_type(service_type),
                                                       check_addr(addr)))
        if record is None:
            raise NoSuchService(f"no {service_type} service at {addr}")
        return self.view(record, self.clock())

    def list(self, service_type: str | None = None) -> list[dict[str, Any]]:
        """The views of every service (of ``service_type``), by type then address."""
        prefix = check_type(service_type) + "/" if service_type else ""
        now = self.clock()
        return [self.view(record, now) for record in self.store.scan(NAMESPACE, prefix)]

    def types(self) -> builtins.list[str]:
        """The service types registered so far."""
        return sorted({record["type"] for record in self.store.scan(NAMESPACE)})

    def effective_score(self, record: Record, now: float) -> int:
        """What a client should use: the lock, else 0 when not heard from in time, else
        the registered score."""
        if record.get("lock") is not None:
            return int(record["lock"])
        if now - float(record.get("last_seen", 0)) > self.timeout:
            return 0
        return int(record.get("score", 0))

    def view(self, record: Record, now: float) -> dict[str, Any]:
        """A service as clients see it: ``id``, ``type``, ``addr``, effective ``score``,
        ``tags`` (with ``tag.up`` and ``tag.lock``), ``locked`` and ``last_seen``."""
        up = now - float(record.get("last_seen", 0)) <= self.timeout
        tags = dict(record.get("tags") or {})
        tags["tag.up"] = up
        tags["tag.lock"] = record.get("lock") is not None
        return {"id": record.get("id", record["addr"]), "type": record["type"],
                "addr": record["addr"], "score": self.effective_score(record, now),
                "tags": tags, "locked": record.get("lock") is not None,
                "last_seen": record.get("last_seen")}
