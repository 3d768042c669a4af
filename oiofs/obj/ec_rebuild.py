"""Rebuilding one lost fragment archive from ``k`` others (the object reconstructor's decode).

:meth:`ArchiveRebuilder.rebuild` is given a write (its archive metadata, read from a local
durable archive of that write) and the index to rebuild. It opens ``k`` archives of other
indexes of that very write (same ``X-Backend-Data-Timestamp``) on the nodes it is given,
in parallel, through the object servers (``GET`` with ``X-Backend-Replication: true``, so
an expired object is rebuilt like any other); then, segment by segment, it reads one
fragment of each, checks it (pyeclib's CRC and index,
:func:`~oiofs.common.ec_segments.fragment_problem`), has pyeclib ``reconstruct`` the
missing index and appends it to a file in the device's ``tmp``. An archive that fails,
ends early or sends a bad fragment is replaced by the next node's archive of the same
write, read from that segment on (``Range``). Memory: one segment's ``k`` fragments.

The result is a complete archive file with its metadata (the write's, with the new
index, length and MD5), which the caller pushes as a replication ``PUT``; the receiving
node stores it through its temporary file, fsync, rename and directory fsync, so a
reconstructor killed at any moment leaves no half archive anywhere (only a file in
``tmp``, removed after ``reclaim_age``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator

from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    DATA_TIMESTAMP_HEADER,
    EC_CONTENT_LENGTH,
    EC_FRAG_INDEX,
    EC_SCHEME,
    EC_SEGMENT_SIZE,
    POLICY_INDEX_HEADER,
    REPLICATION_HEADER,
)
from oiofs.common.connection_pool import ConnectionPool, HTTPResponse
from oiofs.common.direct_client import backend_path
from oiofs.common.ec_segments import SegmentLayout, fragment_problem
from oiofs.common.exceptions import ClientException, ConnectionTimeout, NodeTimeout, OiofsError
from oiofs.common.hashing import md5
from oiofs.common.storage_policy import ECPolicy
from oiofs.obj.diskfile_writer import TMP_DIR
from oiofs.obj.metadata import write_metadata
from oiofs.obj.replication_client import node_address

_NODE_ERRORS = (ClientException, ConnectionTimeout, NodeTimeout, OSError)


class RebuildError(OiofsError):
    """An archive could not be rebuilt: too few good archives of the write reachable,
    or the write's metadata does not fit the policy."""


class _RebuildSource:
    """One archive being read: its answer, node and fragment index."""

    __slots__ = ("resp", "node", "frag_index")

    def __init__(self, resp: HTTPResponse, node: dict, frag_index: int):
        self.resp = resp
        self.node = node
        self.frag_index = frag_index


class ArchiveRebuilder:
    """Rebuilds archives for one reconstructor pass (keep-alive connections shared).

    ``on_progress`` is called after each fragment read and each request (the pass's
    lockup detector); ``requests`` counts the requests made, ``bad_fragments`` the
    archives dropped for a bad fragment or a failed read.
    """

    def __init__(self, conn_timeout: float, node_timeout: float, logger,
                 user_agent: str = "object-reconstructor", on_progress=None):
        self.pool = ConnectionPool(conn_timeout, node_timeout)
        self.logger = logger
        self.user_agent = user_agent
        self.on_progress = on_progress or (lambda: None)
        self.requests = 0
        self.bad_fragments = 0

    def close(self) -> None:
        """Close every idle connection."""
        self.pool.close_all()

    def rebuild(self, policy: ECPolicy, device_path: str, partition: int,
                metadata: dict[str, str], frag_index: int, nodes: Iterator[dict]) -> str:
        """Write archive ``frag_index`` of the write ``metadata`` describes (a durable
        archive's metadata, footers included) to a new file in ``device_path``'s
        ``tmp``, reading other archives from ``nodes`` (tried in order); its path.

        The caller pushes and unlinks it. Raises :class:`RebuildError`.
        """
        try:
            length = int(metadata[EC_CONTENT_LENGTH])
            segment_size = int(metadata.get(EC_SEGMENT_SIZE) or policy.ec_segment_size)
            layout = SegmentLayout.of(policy.driver, length, segment_size)
        except (KeyError, ValueError):
            raise RebuildError(f"{metadata.get('name')}: no valid "
                               f"{EC_CONTENT_LENGTH}/{EC_SEGMENT_SIZE}") from None
        scheme = metadata.get(EC_SCHEME)
        if scheme and scheme != policy.scheme:
            raise RebuildError(f"{metadata.get('name')}: written as {scheme}, the policy "
                               f"is {policy.scheme}")
        read = _WriteReader(self, policy, partition, metadata, frag_index, nodes, layout)
        tmp_dir = os.path.join(device_path, TMP_DIR)
        os.makedirs(tmp_dir, exist_ok=True)
        path = os.path.join(tmp_dir, f"{os.urandom(12).hex()}.rebuild")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            hasher = md5()
            # closing: a pass killed mid-rebuild closes the archives it was reading
            with contextlib.closing(read.rebuilt_fragments()) as fragments:
                for fragment in fragments:
                    hasher.update(fragment)
                    view = memoryview(fragment)
                    while view:
                        view = view[os.write(fd, view):]
            out = dict(metadata)
            out.update({EC_FRAG_INDEX: str(frag_index), "ETag": hasher.hexdigest(),
                        "Content-Length": str(layout.archive_length)})
            # no fsync: this file is scratch; the node it is pushed to makes it durable
            write_metadata(fd, out, layout.archive_length)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return path


class _WriteReader:
    """The ``k`` archives of one write that one rebuild reads (module docstring)."""

    def __init__(self, rebuilder: ArchiveRebuilder, policy: ECPolicy, partition: int,
                 metadata: dict[str, str], frag_index: int, nodes: Iterator[dict],
                 layout: SegmentLayout):
        self.rebuilder = rebuilder
        self.policy = policy
        self.partition = partition
        self.name = metadata.get("name", "")
        self.timestamp = metadata.get("X-Timestamp", "")
        self.frag_index = frag_index
        self.nodes = nodes
        self.layout = layout
        self.sources: list[_RebuildSource] = []

    def _open(self, node: dict, offset: int) -> _RebuildSource | None:
        """The node's archive of this write from byte ``offset``, or ``None`` (not
        there, another write, an index in use or the one being rebuilt, unreachable)."""
        rebuilder = self.rebuilder
        host, port = node_address(node)
        parts = self.name[1:].split("/", 2)
        path = backend_path(node["device"], self.partition, *parts)
        headers = {POLICY_INDEX_HEADER: str(self.policy.idx), REPLICATION_HEADER: "true",
                   "User-Agent": rebuilder.user_agent}
        archive_length = self.layout.archive_length
        if offset:
            headers["Range"] = f"bytes={offset}-{archive_length - 1}"
        rebuilder.requests += 1
        try:
            resp = rebuilder.pool.request(host, port, "GET", path, headers)
        except _NODE_ERRORS as err:
            rebuilder.logger.debug("object reconstruction: GET %s:%s%s: %s", host, port,
                                   path, err)
            return None
        finally:
            rebuilder.on_progress()
        index = resp.headers.get(EC_FRAG_INDEX.lower(), "")
        in_use = {source.frag_index for source in self.sources}
        if resp.status != (206 if offset else 200) or not index.isdigit() or \
                resp.headers.get(DATA_TIMESTAMP_HEADER.lower()) != self.timestamp or \
                int(index) == self.frag_index or int(index) in in_use or \
                resp.headers.get("content-length") != str(archive_length - offset):
            resp.close()
            return None
        return _RebuildSource(resp, node, int(index))

    def _open_many(self, count: int, offset: int) -> None:
        """Open archives from the next nodes until ``count`` more are open or no node
        is left; ``count`` requests at a time, in parallel."""
        k = len(self.sources) + count
        while len(self.sources) < k:
            batch = [node for node in (next(self.nodes, None)
                                       for _ in range(k - len(self.sources)))
                     if node is not None]
            if not batch:
                return
            pool = runtime.GreenPool(len(batch))
            for source in pool.imap(lambda node: self._open(node, offset), batch):
                if source is None:
                    continue
                if len(self.sources) < k and source.frag_index not in \
                        {s.frag_index for s in self.sources}:
                    self.sources.append(source)
                else:  # two nodes answered the same index at once
                    source.resp.close()

    def _read_fragment(self, source: _RebuildSource, size: int) -> bytes | None:
        """The next fragment of ``source`` if it reads whole and checks out."""
        parts, got = [], 0
        try:
            while got < size:
                data = source.resp.read(size - got)
                if not data:
                    return None
                parts.append(data)
                got += len(data)
        except _NODE_ERRORS:
            return None
        finally:
            self.rebuilder.on_progress()
        fragment = b"".join(parts)
        problem = fragment_problem(self.policy.driver, fragment, source.frag_index)
        if problem:
            self.rebuilder.logger.warning(
                "object reconstruction of %s: archive %d from %s: %s; reading another",
                self.name, source.frag_index, source.node.get("device"), problem)
            return None
        return fragment

    def rebuilt_fragments(self) -> Generator[bytes, None, None]:
        """Fragment ``frag_index`` of every segment, in order (closes the archives)."""
        k = self.policy.ec_ndata
        layout = self.layout
        driver = self.policy.driver
        try:
            self._open_many(k, 0)
            for segment in range(layout.segment_count):
                size = layout.fragment_len(segment)
                fragments = []
                position = 0
                while position < len(self.sources):
                    fragment = self._read_fragment(self.sources[position], size)
                    if fragment is not None:
                        fragments.append(fragment)
                        position += 1
                        continue
                    self.rebuilder.bad_fragments += 1
                    self.sources.pop(position).resp.close()
                    self._open_many(1, segment * layout.fragment_size)
                    if len(self.sources) <= position:
                        break
                    # the replacement was appended last: read it in this slot's turn
                    self.sources.insert(position, self.sources.pop())
                if len(fragments) < k:
                    raise RebuildError(f"{self.name} at {self.timestamp}: only "
                                       f"{len(fragments)} of {k} archives readable at "
                                       f"segment {segment}")
                yield driver.reconstruct(fragments, [self.frag_index])[0]
        finally:
            for source in self.sources:
                source.resp.close()
            self.sources = []
