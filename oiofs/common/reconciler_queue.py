"""The misplaced-objects queue: names and rows, with no I/O.

An object row of a container database whose policy is not the container's (replicas
created with different policies during a split, see :mod:`oiofs.common.policy_choice`)
is *misplaced*. The container replicator records it as a row of a hidden account, which
the container-reconciler walks::

    account    .misplaced_objects
    container  str(T // 3600 * 3600)             T: the row's time, one container an hour
    object     "<policy>:/<account>/<container>/<object>"   policy: where it is stored now

The queue row's timestamp is the misplaced row's own (data) timestamp, also kept whole
(offset included) as the row's ETag, which listings give back as ``hash`` (their
``last_modified`` drops the offset); its content type says whether that row is an object
(``application/x-put``) or a deletion (``application/x-delete``). Every primary of the
container queues the same rows under the same names and timestamps, so queueing twice
is harmless, and a newer misplaced version of an object replaces its older queue row.

Like the expiry queue (:mod:`oiofs.common.expiring`), rows are written in policy 0 and
read and removed with :class:`oiofs.common.system_queue.SystemQueue`.

>>> queue_container(Timestamp("1700050000.12345"))
'1700049600'
>>> queue_object(1, "AUTH_t", "c", "a/b")
'1:/AUTH_t/c/a/b'
>>> parse_queue_object('1:/AUTH_t/c/a/b')
MisplacedEntry(policy_index=1, account='AUTH_t', container='c', obj='a/b')
"""

from __future__ import annotations

from typing import NamedTuple

from oiofs.common.timestamp import Timestamp

#: the hidden account holding the queue (starts with the auto-create prefix ".")
MISPLACED_ACCOUNT = ".misplaced_objects"
#: seconds of row times per queue container
CONTAINER_SPAN = 3600
PUT_TYPE = "application/x-put"
DELETE_TYPE = "application/x-delete"


class MisplacedEntry(NamedTuple):
    """What a queue row names: where the object is stored now, and which object."""

    policy_index: int
    account: str
    container: str
    obj: str


def queue_container(timestamp: Timestamp) -> str:
    """The queue container of a misplaced row written at ``timestamp``."""
    seconds = int(float(timestamp))
    return str(seconds // CONTAINER_SPAN * CONTAINER_SPAN)


def queue_container_done(container: str, now: float) -> bool:
    """True if the queue container's hour is over at ``now`` (rows of a later time go
    elsewhere); False for a name that is not a queue container's."""
    if not container.isdigit() or not container.isascii():
        return False
    return int(container) + CONTAINER_SPAN <= now


def queue_object(policy_index: int, account: str, container: str, obj: str) -> str:
    """The queue row name of ``/account/container/obj`` stored in ``policy_index``."""
    return f"{int(policy_index)}:/{account}/{container}/{obj}"


def parse_queue_object(name: str) -> MisplacedEntry:
    """The parts of a queue row name; ``ValueError`` if it is not one."""
    policy, sep, path = name.partition(":/")
    if not sep or not policy.isdigit() or not policy.isascii():
        raise ValueError(f"not a misplaced-object row name: {name!r}")
    account, _, rest = path.partition("/")
    container, _, obj = rest.partition("/")
    if not account or not container or not obj:
        raise ValueError(f"not a misplaced-object row name: {name!r}")
    return MisplacedEntry(int(policy), account, container, obj)


def row_content_type(deleted: bool) -> str:
    """The content type of a queue row for a misplaced object or deletion."""
    return DELETE_TYPE if deleted else PUT_TYPE


def row_etag(timestamp: Timestamp) -> str:
    """The ETag of a queue row: the misplaced row's timestamp, internal form."""
    return timestamp.internal


def row_timestamp(row_hash: str) -> Timestamp:
    """The misplaced row's timestamp from a queue row's ``hash``; ``ValueError`` if it
    is not one (``InvalidTimestamp`` is a ``ValueError``)."""
    return Timestamp(row_hash)


def is_delete_row(content_type: str | None) -> bool:
    """True if a queue row records a deletion; ``ValueError`` for an unknown type."""
    kind = (content_type or "").split(";", 1)[0].strip()
    if kind not in (PUT_TYPE, DELETE_TYPE):
        raise ValueError(f"not a misplaced-object row type: {content_type!r}")
    return kind == DELETE_TYPE
