"""The object server's side of replication: the REPLICATE verb and replication writes.

The object replicator (:mod:`oiofs.obj.replicator`) keeps replicas in sync by pushing over
HTTP; this module answers it. Protocol (also in ``docs/backend-protocol.md``):

``REPLICATE /<dev>/<part>[/<suf>-<suf>...]``
    Folds recorded invalidations into ``hashes.json``, rehashes the listed suffixes, and
    answers ``200`` with JSON ``{suffix: hash}`` for the whole partition (``{}`` when the
    partition does not exist here).

``REPLICATE /<dev>/<part>/<suf>-<suf>...`` with ``X-Backend-Replication-Op: inventory``
    Answers what this node holds in those suffixes, after cleanup and reclaim:
    ``{hash: {"ts": <timestamp>, "ext": ".data"|".ts", "meta": <timestamp>}}`` (``ts``/
    ``ext`` absent when only a ``.meta`` is there, ``meta`` absent when there is none),
    plus ``"frags": [<index>...]`` for fragment archives: the indexes held durable at
    ``ts``, and ``"pending": {<timestamp>: [<index>...]}``: archives of newer writes
    still waiting for their commit.

``PUT`` (``.data``), ``POST`` (``.meta``), ``DELETE`` (``.ts``) ``/<dev>/<part>/<a>/<c>/<o>``
with ``X-Backend-Replication: true``
    A replication write: the body starts with the file's on-disk metadata as JSON
    (``X-Backend-Replication-Meta-Length`` bytes), followed for a ``.data`` by the object's
    bytes. In an erasure-coded policy a ``.data`` is a fragment archive pushed by the
    object reconstructor: its metadata names its index (``X-Object-Sysmeta-Ec-Frag-Index``)
    and holds the footers, and it is stored durable, ``<ts>#<i>#d.data``, beside archives
    of other indexes of the same write. The metadata is stored exactly as sent
    (timestamp, ETag, content type, user metadata, ``X-Delete-At``...); no container
    update is made. The file goes through the usual temporary file, fsync, rename and
    directory fsync, so a push cut short is never visible. Answers ``201``; ``409`` +
    ``X-Backend-Timestamp`` if this node already has that file or a newer one (newest
    wins); ``422`` if the bytes do not match the ETag.

Rehashing runs in the request's green thread rather than in a real thread: a pass over an
in-sync partition reads two small files, and a suffix holds few objects.
"""

from __future__ import annotations

import json
import os
from typing import Any

from werkzeug.wrappers import Request

from oiofs.common.backend_protocol import (
    EC_CONTENT_LENGTH,
    EC_ETAG,
    EC_FRAG_INDEX,
    POLICY_INDEX_HEADER,
    REPLICATION_HEADER,
    REPLICATION_META_LENGTH_HEADER,
    REPLICATION_OP_HEADER,
    TIMESTAMP_HEADER,
    environ_key,
)
from oiofs.common.base_app import request_path
from oiofs.common.constraints import split_path
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPConflict,
    HTTPLengthRequired,
    HTTPServiceUnavailable,
    HTTPUnprocessableEntity,
    InvalidTimestamp,
)
from oiofs.common.hashing import md5
from oiofs.common.http.body import RequestBody
from oiofs.common.http.response import WsgiResponse
from oiofs.common.storage_policy import ERASURE_CODING, POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj import filenames
from oiofs.obj.diskfile import DiskFile, DiskFileManager
from oiofs.obj.hashes import get_hashes, is_suffix, suffix_listing
from oiofs.obj.metadata import MAX_METADATA_SIZE

OP_HASHES = "hashes"
OP_INVENTORY = "inventory"
#: one REPLICATE asks about at most this many suffixes (4096 exist in all)
MAX_SUFFIXES = 4096


def is_replication(environ: dict) -> bool:
    """True if a request is a replication write (``X-Backend-Replication: true``)."""
    value = environ.get(environ_key(REPLICATION_HEADER))
    return value is not None and value.lower() == "true"


def parse_suffixes(text: str | None) -> list[str]:
    """``"abc-0f1"`` -> ``["abc", "0f1"]``; :class:`HTTPBadRequest` on anything else."""
    if not text:
        return []
    suffixes = text.split("-")
    if len(suffixes) > MAX_SUFFIXES or not all(is_suffix(s) for s in suffixes):
        raise HTTPBadRequest("Invalid suffix list")
    return suffixes


def inventory_entry(files: filenames.OnDiskFiles) -> dict[str, Any]:
    """The inventory record of one object: its chosen files' timestamps and kind (and
    for fragment archives the durable indexes and those waiting for their commit)."""
    entry: dict[str, Any] = {}
    chosen = files.data_or_ts_timestamp  # set exactly when a .data or .ts is chosen
    if chosen:
        entry["ts"] = chosen
        entry["ext"] = filenames.DATA if files.data else filenames.TOMBSTONE
    if files.meta_timestamp:
        entry["meta"] = files.meta_timestamp
    frags = durable_frag_indexes(files)
    if frags:
        entry["frags"] = frags
    pending: dict[str, list[int]] = {}
    for name in files.others:
        parsed = filenames.parse_filename(name)
        if parsed and not parsed.durable and parsed.frag_index is not None:
            pending.setdefault(parsed.timestamp, []).append(parsed.frag_index)
    if pending:
        entry["pending"] = {stamp: sorted(found) for stamp, found in pending.items()}
    return entry


def durable_frag_indexes(files: filenames.OnDiskFiles) -> list[int]:
    """The fragment indexes of the durable archives of the chosen write, sorted (``[]``
    for a replicated object or a tombstone)."""
    return sorted(filenames.durable_archives(files))


def _valid_metadata(raw: bytes) -> dict[str, str]:
    try:
        metadata = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPBadRequest("Replication metadata is not JSON") from None
    if type(metadata) is not dict or not all(
            type(k) is str and type(v) is str for k, v in metadata.items()):
        raise HTTPBadRequest("Replication metadata is not a mapping of strings")
    try:
        stamp = Timestamp(metadata.get("X-Timestamp"))
    except (InvalidTimestamp, TypeError, ValueError):
        raise HTTPBadRequest("Replication metadata has no valid X-Timestamp") from None
    if stamp.internal != metadata["X-Timestamp"]:
        raise HTTPBadRequest("Replication metadata timestamp is not in internal form")
    return metadata


class ReplicationHandler:
    """Answers REPLICATE and replication writes for one object server."""

    def __init__(self, manager: DiskFileManager, reclaim_age: float, chunk_size: int,
                 logger):
        self.manager = manager
        self.reclaim_age = reclaim_age
        self.chunk_size = chunk_size
        self.logger = logger

    # -- REPLICATE -------------------------------------------------------------------------

    def replicate(self, req: Request) -> WsgiResponse:
        """Suffix hashes (default) or the inventory of suffixes; see the module docstring."""
        path = request_path(req)
        device, partition, suffix_text = split_path(path, 2, 3)
        assert device is not None and partition is not None  # at least 2 segments
        if not partition.isdigit():
            raise HTTPBadRequest(f"Invalid partition {partition!r}")
        suffixes = parse_suffixes(suffix_text)
        index = req.environ.get(environ_key(POLICY_INDEX_HEADER))
        policy = POLICIES.get_by_index(index if index else 0)
        if policy is None:
            raise HTTPServiceUnavailable(f"No policy with index {index}")
        device_path = self.manager.device_path(device)
        self.manager.check_device(device_path)
        partition_dir = os.path.join(device_path, policy.get_diskfile_dir("objects"),
                                     partition)
        op = req.headers.get(REPLICATION_OP_HEADER, OP_HASHES)
        if op == OP_HASHES:
            answer: dict = get_hashes(partition_dir, suffixes, self.reclaim_age).hashes
        elif op == OP_INVENTORY:
            if not suffixes:
                raise HTTPBadRequest("An inventory needs a suffix list")
            answer = {}
            for suffix in suffixes:
                listing = suffix_listing(os.path.join(partition_dir, suffix),
                                         self.reclaim_age)
                for name, files in listing.items():
                    answer[name] = inventory_entry(files)
        else:
            raise HTTPBadRequest(f"Unknown replication op {op!r}")
        body = json.dumps(answer, separators=(",", ":")).encode("ascii")
        return WsgiResponse(200, {"Content-Type": "application/json"}, body)

    # -- replication writes ------------------------------------------------------------------

    def receive(self, df: DiskFile, req: Request, ext: str) -> WsgiResponse:
        """Store one pushed file (``ext``: ``.data``, ``.meta`` or ``.ts``) as sent."""
        environ = req.environ
        length_text = environ.get("CONTENT_LENGTH")
        if not length_text or not length_text.isdigit():
            raise HTTPLengthRequired()
        length = int(length_text)
        meta_text = environ.get(environ_key(REPLICATION_META_LENGTH_HEADER), "")
        if not meta_text.isdigit() or not 0 < int(meta_text) <= min(length, MAX_METADATA_SIZE):
            raise HTTPBadRequest(f"Bad {REPLICATION_META_LENGTH_HEADER}")
        meta_length = int(meta_text)
        data_length = length - meta_length
        body = RequestBody.of(environ, length)
        metadata = _valid_metadata(body.read_exact(meta_length))
        if metadata.get("name") != df.name:
            raise HTTPBadRequest("Replication metadata names another object")
        if ext == filenames.DATA:
            if metadata.get("Content-Length") != str(data_length) or "ETag" not in metadata:
                raise HTTPBadRequest("Replication metadata disagrees with the body")
        elif data_length:
            raise HTTPBadRequest("Only a .data carries a body")
        frag_index = self._frag_index(df, ext, metadata)
        self._check_newer(df, ext, metadata["X-Timestamp"], frag_index)
        hasher = md5()
        with df.create(size=data_length) as writer:
            for chunk in body.chunks(self.chunk_size):
                hasher.update(chunk)
                writer.write(chunk)
            if ext == filenames.DATA and hasher.hexdigest() != metadata["ETag"].lower():
                raise HTTPUnprocessableEntity("Etag does not match the body")
            writer.put(metadata, ext, frag_index, durable=frag_index is not None)
        return WsgiResponse(201)

    @staticmethod
    def _frag_index(df: DiskFile, ext: str, metadata: dict[str, str]) -> int | None:
        """The fragment index of a pushed archive (erasure-coded policy, ``.data``):
        stored durable under ``<ts>#<i>#d.data``, so its metadata must hold the index and
        the footers (400 otherwise); ``None`` for anything else."""
        if ext != filenames.DATA or df.policy.policy_type != ERASURE_CODING:
            return None
        index = metadata.get(EC_FRAG_INDEX, "")
        if not index.isdigit() or not index.isascii() or \
                int(index) >= getattr(df.policy, "ec_n_unique_fragments", 0):
            raise HTTPBadRequest(f"A pushed archive needs a valid {EC_FRAG_INDEX}")
        if not metadata.get(EC_ETAG) or not metadata.get(EC_CONTENT_LENGTH, "").isdigit():
            raise HTTPBadRequest(f"A pushed archive needs {EC_ETAG} and {EC_CONTENT_LENGTH}")
        return int(index)

    @staticmethod
    def _check_newer(df: DiskFile, ext: str, stamp: str,
                     frag_index: int | None = None) -> None:
        """409 unless ``stamp`` would be the newest file of its kind (newest wins); an
        archive of another fragment index of the chosen write is welcome (a handoff, or a
        node of a changed ring, may hold several)."""
        files = df.ondisk()
        current = files.data_or_ts_timestamp
        if frag_index is not None and current == stamp and files.data and \
                frag_index not in durable_frag_indexes(files):
            return
        if ext == filenames.META:
            # a .meta must be newer than the .data/.ts and than any .meta already there
            newest = max(filter(None, (current, files.meta_timestamp)), default=None)
        else:
            newest = current
        if newest is not None and newest >= stamp:
            raise HTTPConflict(headers={TIMESTAMP_HEADER: newest})
