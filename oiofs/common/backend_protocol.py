"""The backend protocol between the proxy, the storage servers and the daemons, with no I/O.

What is written down in ``docs/backend-protocol.md`` and shared by both ends lives here:

* the names of the ``X-Backend-*`` headers (clients never see or set them: the proxy
  strips them from answers and does not pass them on from requests);
* the *update headers*: on a write the proxy tells each of the N nodes it writes to
  which M other nodes it must update afterwards (an object server its container
  replicas or the expiry queue's, a container server its account replicas).
  :func:`deal_update_headers` writes them at one end, :func:`parse_update_targets` reads
  them at the other.

The request *body* is read by every server through one reader with one error mapping,
:class:`oiofs.common.http.body.RequestBody`.

>>> nodes = [{"ip": "10.0.0.1", "port": 6201, "device": "d1"},
...          {"ip": "10.0.0.2", "port": 6201, "device": "d2"}]
>>> slots = deal_update_headers("X-Container", 7, nodes, 2)
>>> slots[1]
{'X-Container-Host': '10.0.0.2:6201', 'X-Container-Device': 'd2', 'X-Container-Partition': '7'}
>>> parse_update_targets(slots[1]["X-Container-Host"], slots[1]["X-Container-Device"], "7")
[UpdateTarget(ip='10.0.0.2', port=6201, device='d2', partition='7')]
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: every internal header starts with this (lower case, for prefix tests on lower keys)
BACKEND_PREFIX = "x-backend-"

#: the transaction id of the client request a backend request serves (made by the proxy;
#: a daemon's requests carry their own), logged by every server it reaches
TRANS_ID_HEADER = "X-Trans-Id"
#: the storage policy of an object or container (0 if absent)
POLICY_INDEX_HEADER = "X-Backend-Storage-Policy-Index"
#: the policy a container server gives a container created without :data:`POLICY_INDEX_HEADER`
POLICY_DEFAULT_HEADER = "X-Backend-Storage-Policy-Default"
#: the timestamp of what a storage server holds (newest file, or a database's creation)
TIMESTAMP_HEADER = "X-Backend-Timestamp"
#: the timestamp of an object's ``.data`` or ``.ts``
DATA_TIMESTAMP_HEADER = "X-Backend-Data-Timestamp"
#: ``true`` on an object ``HEAD`` of a replicated policy: the replica's state only (is
#: its newest file a ``.data`` or a ``.ts``, and the timestamps), answered from the
#: object's directory listing without opening the file (the proxy's read checks)
STATE_ONLY_HEADER = "X-Backend-State-Only"
#: a database's put and delete timestamps and the time its status last changed
PUT_TIMESTAMP_HEADER = "X-Backend-Put-Timestamp"
DELETE_TIMESTAMP_HEADER = "X-Backend-Delete-Timestamp"
STATUS_CHANGED_AT_HEADER = "X-Backend-Status-Changed-At"
#: a container's rows hash (XOR of its rows' hashes, deleted rows included): replicas
#: with the same value hold the same rows (the proxy compares it on listings)
ROWS_HASH_HEADER = "X-Backend-Rows-Hash"
#: ``true`` on a proxy's container ``GET``: the listing form for merging replicas that
#: disagree (``docs/backend-protocol.md``): a JSON list of the raw rows in the range,
#: deleted rows included, each with its encoded timestamps and ``deleted`` flag; no
#: delimiter or path (the proxy applies those rules to the merged rows)
INCLUDE_DELETED_HEADER = "X-Backend-Include-Deleted"
#: ``true`` with :data:`INCLUDE_DELETED_HEADER`: the lower bound of the range (``marker``,
#: or ``end_marker`` when ``reverse``) is inclusive: a row of exactly that name is listed
LOWER_INCLUSIVE_HEADER = "X-Backend-Lower-Inclusive"
#: ``true`` on an object replicator's PUT/POST/DELETE: store the file exactly as sent
REPLICATION_HEADER = "X-Backend-Replication"
#: the operation of an object ``REPLICATE`` (``inventory``, ``push``; hashes when absent)
REPLICATION_OP_HEADER = "X-Backend-Replication-Op"
#: the replicas an object ``REPLICATE`` with the ``push`` op sends its files to: a JSON
#: list of ring devices (``ip``, ``port``, ``device``, and ``replication_ip``/``_port``)
PUSH_TO_HEADER = "X-Backend-Push-To"
#: the ``X-Backend-Replication-Op`` of a proxy asking a replica to push one object
REPLICATION_OP_PUSH = "push"
#: the length of the on-disk metadata leading a replication write's body
REPLICATION_META_LENGTH_HEADER = "X-Backend-Replication-Meta-Length"
#: the sender's database id on a whole-database replication upload
REPLICATION_ID_HEADER = "X-Backend-Replication-Id"
#: the operation of an ``ADMIN`` request (``docs/directory.md``, "Admin"); its arguments
#: are the JSON object of the body
ADMIN_OP_HEADER = "X-Backend-Admin-Op"
#: ``no`` on the expirer's object DELETE: the expirer removes the queue row itself
CLEAN_QUEUE_HEADER = "X-Backend-Clean-Expiring-Object-Queue"

#: erasure coding (``docs/erasure-coding.md``): the fragment index of an archive write,
#: ``yes`` on the commit (second phase) of an erasure-coded PUT, and the metadata key a
#: node evaluates ``If-Match``/``If-None-Match`` against instead of the archive's ETag
EC_FRAG_INDEX_HEADER = "X-Backend-Ec-Frag-Index"
EC_COMMIT_HEADER = "X-Backend-Ec-Commit"
ETAG_IS_AT_HEADER = "X-Backend-Etag-Is-At"
#: the system metadata of a fragment archive: the object's ETag and length (footers, sent
#: with the commit), the archive's fragment index, the segment size and the code
EC_SYSMETA_PREFIX = "X-Object-Sysmeta-Ec-"
EC_ETAG = "X-Object-Sysmeta-Ec-Etag"
EC_CONTENT_LENGTH = "X-Object-Sysmeta-Ec-Content-Length"
EC_FRAG_INDEX = "X-Object-Sysmeta-Ec-Frag-Index"
EC_SEGMENT_SIZE = "X-Object-Sysmeta-Ec-Segment-Size"
EC_SCHEME = "X-Object-Sysmeta-Ec-Scheme"

#: prefixes of the update headers: object -> container, object -> expiry queue,
#: container -> account
CONTAINER_UPDATE = "X-Container"
DELETE_AT_UPDATE = "X-Delete-At"
ACCOUNT_UPDATE = "X-Account"


def environ_key(header: str) -> str:
    """The WSGI environ key of a request header.

    >>> environ_key(POLICY_INDEX_HEADER)
    'HTTP_X_BACKEND_STORAGE_POLICY_INDEX'
    """
    return "HTTP_" + header.upper().replace("-", "_")


class UpdateTarget(NamedTuple):
    """One node a server must send an update to."""

    ip: str
    port: int
    device: str
    partition: str


def deal_update_headers(prefix: str, part: int, nodes: list[dict[str, Any]], slots: int,
                        node_quorum: int = 0, slot_quorum: int | None = None,
                        copies: int = 1) -> list[dict[str, str]]:
    """Per write slot (one of the ``slots`` nodes written to): the update headers naming
    which of ``nodes`` (the replicas to update, all of partition ``part``) it must tell.

    The headers are ``<prefix>-Host`` (``ip:port``), ``<prefix>-Device`` (comma-separated
    when a slot gets several nodes) and ``<prefix>-Partition``; a slot with nothing to
    tell gets ``{}``. Every node is dealt at least once, round-robin over the slots. With
    quorums, more updates are dealt so that even if only ``slot_quorum`` slots succeed,
    ``node_quorum`` nodes still hear of the write (the defaults deal each node once).
    With ``copies`` each node is dealt to that many different slots (at most ``slots``):
    ``slots - slot_quorum + 1`` copies tell every node even if only ``slot_quorum``
    slots succeed, whichever they are.

    >>> nodes = [{"ip": "10.0.0.1", "port": 6201, "device": "d1"}]
    >>> deal_update_headers("X-Container", 7, nodes, 2, 1, 2)[0]["X-Container-Host"]
    '10.0.0.1:6201'
    >>> nodes = [{"ip": "10.0.0.1", "port": 1, "device": d} for d in ("a", "b", "c")]
    >>> [h["X-Account-Device"] for h in deal_update_headers("X-Account", 7, nodes, 3,
    ...                                                     copies=2)]
    ['a,c', 'b,a', 'c,b']
    """
    headers: list[dict[str, str]] = [{} for _ in range(slots)]
    if not nodes or not slots:
        return headers
    if slot_quorum is None:
        slot_quorum = slots
    host_key, device_key = f"{prefix}-Host", f"{prefix}-Device"
    updates = max(node_quorum + slots - slot_quorum, len(nodes) * min(copies, slots))
    for i in range(updates):
        node = nodes[i % len(nodes)]
        # each round over the nodes starts one slot further: a node's copies differ
        slot = headers[(i + i // len(nodes)) % slots]
        host = f"{node['ip']}:{node['port']}"
        if slot:
            slot[host_key] += "," + host
            slot[device_key] += "," + node["device"]
        else:
            slot.update({host_key: host, device_key: node["device"],
                         f"{prefix}-Partition": str(part)})
    return headers


def parse_update_targets(hosts: str | None, devices: str | None,
                         partitions: str | None) -> list[UpdateTarget]:
    """The nodes named by the three update header values (``<prefix>-Host``, ``-Device``,
    ``-Partition``); each one value or a comma-separated list of the same length (a single
    partition applies to every host).

    ``[]`` when ``hosts`` is absent or empty; ``ValueError`` when the lists do not pair up,
    a host is not ``ip:port``, a device is empty or a partition is not a number.
    """
    if not hosts or not hosts.strip():
        return []
    host_list = [h.strip() for h in hosts.split(",")]
    device_list = [d.strip() for d in (devices or "").split(",")]
    part_list = [p.strip() for p in (partitions or "").split(",")]
    if len(part_list) == 1:
        part_list *= len(host_list)
    if len(device_list) != len(host_list) or len(part_list) != len(host_list):
        raise ValueError(f"{hosts!r}, {devices!r} and {partitions!r} do not pair up")
    targets = []
    for host, device, part in zip(host_list, device_list, part_list, strict=True):
        ip, sep, port = host.rpartition(":")
        if not sep or not ip or not (port.isdigit() and port.isascii()) or not device \
                or not (part.isdigit() and part.isascii()):
            raise ValueError(f"invalid update target {host!r}/{device!r}/{part!r}")
        targets.append(UpdateTarget(ip.strip("[]"), int(port), device, part))
    return targets


def majority(count: int) -> int:
    """How many of ``count`` replicas make a quorum (more than half).

    >>> majority(3), majority(4)
    (2, 3)
    """
    return count // 2 + 1
