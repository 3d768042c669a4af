"""The expiry queue: names, placement headers and shares of work, with no I/O.

An object ``/a/c/o`` stored with ``X-Delete-At: D`` (epoch seconds) is recorded as a row
of a hidden account, so that the object expirer finds it without walking every object::

    account    .expiring_objects
    container  str(D // divisor * divisor)    e.g. "1700006400" (one container per day)
    object     "%010d-a/c/o" % D              e.g. "1700050000-AUTH_test/photos/cat.jpg"

Rows sort by name, so by time: the expirer stops reading a container at the first row
still in the future. ``divisor`` is ``expiring_objects_container_divisor`` (86400); the
proxy and every object server must use the same value, or an object server removing an
old row (on overwrite, POST or DELETE) looks for it in the wrong container.

The proxy places the row: it names the queue container and its replicas in
``X-Delete-At-Container``, ``-Host``, ``-Device`` and ``-Partition``, paired with the object
replicas like the container update headers
(:func:`oiofs.common.backend_protocol.deal_update_headers`). The object server
then sends the row (size 0, ``text/plain``, ETag of nothing) once the object is durable,
with an async pending on failure. The row's content type also carries the object's storage
policy index when it is not 0 (``text/plain;oiofs_policy_index=1``): queue rows are all
written in policy 0, and the expirer must know which object ring to use.

Every node runs an expirer; :func:`~oiofs.common.system_queue.handles_row` decides which
one deletes a row (see its docstring), so a row is normally handled once, and handling it
twice is harmless.

>>> queue_container(1700050000, 86400)
'1700006400'
>>> queue_object(1700050000, "AUTH_t", "c", "a/b")
'1700050000-AUTH_t/c/a/b'
>>> parse_queue_object('1700050000-AUTH_t/c/a/b')
QueueEntry(delete_at=1700050000, account='AUTH_t', container='c', obj='a/b')
"""

from __future__ import annotations

from typing import NamedTuple

# re-exported: one value and one sharing rule for both queues
from oiofs.common.system_queue import ROW_ETAG as ROW_ETAG
from oiofs.common.system_queue import handles_row as handles_row

#: the hidden account holding the queue (starts with the auto-create prefix ".")
EXPIRING_ACCOUNT = ".expiring_objects"
#: seconds of delete-at times per queue container
DEFAULT_DIVISOR = 86400
#: what a queue row records (the container server needs size, type and ETag)
ROW_CONTENT_TYPE = "text/plain"
POLICY_PARAM = "oiofs_policy_index"


class QueueEntry(NamedTuple):
    """What a queue row names: the object and the time it expires."""

    delete_at: int
    account: str
    container: str
    obj: str


def queue_container(delete_at: int, divisor: int = DEFAULT_DIVISOR) -> str:
    """The queue container of an object expiring at ``delete_at``."""
    delete_at = int(delete_at)
    return str(delete_at // divisor * divisor)


def queue_object(delete_at: int, account: str, container: str, obj: str) -> str:
    """The queue row name of ``/account/container/obj`` expiring at ``delete_at``."""
    return "%010d-%s/%s/%s" % (int(delete_at), account, container, obj)


def parse_queue_object(name: str) -> QueueEntry:
    """The parts of a queue row name; ``ValueError`` if it is not one."""
    stamp, dash, path = name.partition("-")
    if not dash or not stamp.isdigit() or not stamp.isascii():
        raise ValueError(f"not a queue row name: {name!r}")
    account, _, rest = path.partition("/")
    container, _, obj = rest.partition("/")
    if not account or not container or not obj:
        raise ValueError(f"not a queue row name: {name!r}")
    return QueueEntry(int(stamp), account, container, obj)


def row_content_type(policy_index: int) -> str:
    """The content type of a queue row for an object of ``policy_index``."""
    if not policy_index:
        return ROW_CONTENT_TYPE
    return f"{ROW_CONTENT_TYPE};{POLICY_PARAM}={int(policy_index)}"


def policy_of_row(content_type: str | None) -> int:
    """The storage policy index recorded in a queue row's content type (0 if none).

    ``ValueError`` if the parameter is there but is not a number.
    """
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip() == POLICY_PARAM:
            value = value.strip()
            if not value.isdigit() or not value.isascii():
                raise ValueError(f"bad {POLICY_PARAM} in {content_type!r}")
            return int(value)
    return 0
