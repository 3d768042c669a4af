"""Pushing one object to replicas found behind: the ``push`` op of object ``REPLICATE``.

A proxy whose read found a replica holding an older copy of an object (or a copy of an
object deleted since, or no copy at all) asks the node holding the newest state to send
its files to that replica now, instead of leaving it to the replicator's next pass
(``docs/proxy.md``, *Read-your-writes*):

``REPLICATE /<dev>/<part>/<a>/<c>/<o>`` with ``X-Backend-Replication-Op: push`` and
``X-Backend-Push-To: [{"ip", "port", "device", "replication_ip"?, "replication_port"?}]``
    Answers ``202`` at once and then, in a green thread of its own, for each replica
    named: its inventory of the object's suffix, then the files it lacks or holds older
    (the ``.data`` or ``.ts``, then a ``.meta``), pushed exactly as the replicator pushes
    them (:meth:`~oiofs.obj.replication_client.ReplicationClient.push`: replication
    writes, newest wins, so a push that crosses a newer write is refused by the replica
    with 409 and changes nothing). A replica that fails or a local file that is bad is
    logged and left to the replicator (and the auditor). ``404`` when this node holds
    nothing of the object; ``400`` for a bad list, and for erasure-coded policies (a
    fragment archive is the reconstructor's); ``429`` when ``MAX_IN_FLIGHT`` repairs are
    running already in this worker (a replica far behind is the replicator's work).

Answering before pushing keeps the proxy's request short whatever the replica does (a
replica frozen mid-outage makes a push wait its timeouts), so the proxy never counts a
slow push as a fault of this node.
"""

from __future__ import annotations

import json
import os

from werkzeug.wrappers import Request

from oiofs.common import runtime
from oiofs.common.backend_protocol import PUSH_TO_HEADER
from oiofs.common.exceptions import HTTPBadRequest, HTTPNotFound, HTTPTooManyRequests
from oiofs.common.http.response import WsgiResponse
from oiofs.common.storage_policy import ERASURE_CODING
from oiofs.obj.diskfile import DiskFile
from oiofs.obj.replication_client import LocalFileBad, ReplicationClient, ReplicationError
from oiofs.obj.replication_sync import files_to_push

#: at most this many replicas in one push request
MAX_TARGETS = 8
#: at most this many repairs running at once in one object-server worker
MAX_IN_FLIGHT = 16


def parse_targets(text: str | None) -> list[dict]:
    """The ring devices of ``X-Backend-Push-To``; :class:`HTTPBadRequest` unless it is a
    JSON list of 1 to ``MAX_TARGETS`` objects with a string ``ip`` and ``device`` and an
    integer ``port``.

    >>> parse_targets('[{"ip": "127.0.0.1", "port": 6200, "device": "sdb1"}]')
    [{'ip': '127.0.0.1', 'port': 6200, 'device': 'sdb1'}]
    """
    try:
        targets = json.loads(text or "")
    except ValueError:
        raise HTTPBadRequest(f"{PUSH_TO_HEADER} is not JSON") from None
    if type(targets) is not list or not 0 < len(targets) <= MAX_TARGETS:
        raise HTTPBadRequest(f"{PUSH_TO_HEADER} must list 1 to {MAX_TARGETS} devices")
    result = []
    for target in targets:
        if type(target) is not dict or not all(
                type(target.get(key)) is str and target[key] for key in ("ip", "device")) \
                or type(target.get("port")) is not int or "/" in target["device"]:
            raise HTTPBadRequest(f"Bad device in {PUSH_TO_HEADER}")
        node = {key: target[key] for key in ("ip", "port", "device")}
        if type(target.get("replication_ip")) is str and \
                type(target.get("replication_port")) is int:
            node["replication_ip"] = target["replication_ip"]
            node["replication_port"] = target["replication_port"]
        result.append(node)
    return result


class RepairPusher:
    """Answers the ``push`` op for one object server (module docstring)."""

    def __init__(self, client: ReplicationClient, logger):
        self.client = client
        self.logger = logger
        self.in_flight = 0

    def push(self, df: DiskFile, partition: str, req: Request) -> WsgiResponse:
        """Start sending ``df``'s files to the replicas named by the request that lack
        them; ``202`` once started."""
        if df.policy.policy_type == ERASURE_CODING:
            raise HTTPBadRequest("An erasure-coded archive is the reconstructor's to push")
        targets = parse_targets(req.headers.get(PUSH_TO_HEADER))
        files = df.ondisk()
        if not files.data_or_ts_timestamp and not files.meta_timestamp:
            raise HTTPNotFound()
        if self.in_flight >= MAX_IN_FLIGHT:
            raise HTTPTooManyRequests("Too many repairs running")
        self.in_flight += 1
        runtime.spawn_n(self._push_all, df, int(partition), targets, files)
        return WsgiResponse(202)

    def _push_all(self, df: DiskFile, partition: int, targets: list[dict], files) -> None:
        try:
            for node in targets:
                self.push_to(df, partition, node, files)
        finally:
            self.in_flight -= 1

    def push_to(self, df: DiskFile, partition: int, node: dict, files) -> int:
        """Push what ``node`` lacks of ``files``: the last push's status (201 stored, 409
        it had that or newer), 200 when nothing was needed, 503 when the node failed,
        500 when the local file is bad."""
        suffix = df.name_hash[-3:]
        try:
            remote = self.client.inventory(node, partition, df.policy, [suffix])
            status = 200
            for name in files_to_push(files, remote.get(df.name_hash)):
                # a replication write invalidates the peer's suffix hash itself
                status = self.client.push(node, partition, df.policy,
                                          os.path.join(df.hash_dir, name))
            return status
        except FileNotFoundError:
            return 409  # a newer write replaced the file meanwhile: nothing to repair
        except ReplicationError as err:
            self.logger.warning("repair push of %s to %s: %s", df.name, node["ip"], err)
            return 503
        except LocalFileBad as err:
            self.logger.error("repair push of %s: %s", df.name, err)
            return 500
