"""The erasure-coded writer: an object's body stored as ``k + m`` fragment archives.

:class:`ECWriter` is the :class:`~oiofs.proxy.object_writer.ObjectWriter` of erasure-coded
policies (``docs/erasure-coding.md``). A PUT is a two-phase commit:

1. **data**: every slot is asked with ``Expect: 100-continue`` (a dead node is replaced by
   a handoff, which gets that slot's fragment index); then the body is read one segment
   at a time (``ec_object_segment_size``), each segment encoded by pyeclib, and fragment
   *i* sent to slot *i* as the next piece of its archive (with the archive's
   ``Content-Length`` when the object's length is known, else chunked). The nodes store the
   archive fsynced under its non-durable name ``<ts>#<i>.data``; it is invisible to reads.
2. **commit**: once at least ``k + 1`` archives are stored (the policy's quorum), each of
   those nodes gets a bodiless ``PUT`` with ``X-Backend-Ec-Commit: yes`` and the footers
   (the object's MD5 ETag and length, known only now), which it adds to the archive's
   metadata, fsyncs, and renames the archive ``<ts>#<i>#d.data``; only then does it tell
   the container. The client gets 201 once a quorum of commits succeeded.

Memory per request: one segment of body and its fragments. The client's ``ETag`` is
checked by the proxy against the whole body before anything is committed (422).
"""

from __future__ import annotations

from oiofs.common import constraints
from oiofs.common.backend_protocol import (
    EC_COMMIT_HEADER,
    EC_CONTENT_LENGTH,
    EC_ETAG,
    EC_FRAG_INDEX_HEADER,
    EC_SCHEME,
    EC_SEGMENT_SIZE,
)
from oiofs.common.ec_segments import SegmentLayout
from oiofs.common.exceptions import (
    HTTPRequestEntityTooLarge,
    HTTPServiceUnavailable,
    HTTPUnprocessableEntity,
)
from oiofs.common.hashing import md5
from oiofs.common.http.etag import unquote_etag
from oiofs.common.storage_policy import ECPolicy
from oiofs.proxy.backend import Answer, Backend, StreamingWrite
from oiofs.proxy.object_writer import BodySource, WriteTarget


def read_segment(source: BodySource, size: int) -> bytes:
    """Up to ``size`` bytes of ``source``: fewer only at its end."""
    parts, got = [], 0
    while got < size:
        data = source.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class ECWriter:
    """Writes fragment archive *i* to slot *i* with a two-phase commit (module docstring)."""

    def __init__(self, backend: Backend, policy: ECPolicy, chunk_size: int = 65536):
        self.backend = backend
        self.policy = policy
        self.chunk_size = chunk_size

    def _data_headers(self, target: WriteTarget,
                      length: int | None) -> tuple[list[dict], str | None]:
        """The first phase's headers of each slot, and the client's ETag (if any).

        When the object's length is known so is each archive's: the archives are sent
        with a ``Content-Length`` (the node reserves the space up front); else chunked.
        """
        policy = self.policy
        if length is None:
            framing = {"Transfer-Encoding": "chunked"}
        else:
            layout = SegmentLayout.of(policy.driver, length, policy.ec_segment_size)
            framing = {"Content-Length": str(layout.archive_length)}
        expected = None
        headers = []
        for slot, base in enumerate(target.headers):
            slot_headers = dict(base)
            expected = slot_headers.pop("ETag", None) or expected  # the archive has another
            slot_headers.update({
                EC_FRAG_INDEX_HEADER: str(policy.frag_index(slot)),
                EC_SEGMENT_SIZE: str(policy.ec_segment_size),
                EC_SCHEME: policy.scheme,
                **framing})
            headers.append(slot_headers)
        return headers, expected

    def store(self, target: WriteTarget, source: BodySource,
              length: int | None) -> list[Answer]:
        """Encode the body from ``source`` into archives and commit them
        (:class:`~oiofs.proxy.object_writer.ObjectWriter`)."""
        policy = self.policy
        headers, expected = self._data_headers(target, length)
        writer = StreamingWrite(self.backend, target.ring, target.part, target.nodes,
                                target.suffix, headers, chunked=length is None)
        if writer.connect() < target.quorum:
            ready = len(writer.writers)
            writer.abort()
            return writer.answers + [Answer(503, {}, b"", None)] * ready
        hasher = md5()
        total = 0
        max_size = constraints.LIMITS.max_file_size
        segment_size = policy.ec_segment_size
        try:
            while True:
                want = segment_size if length is None else min(segment_size, length - total)
                segment = read_segment(source, want) if want else b""
                if length is not None and len(segment) < want:
                    raise HTTPServiceUnavailable("Body source ended early")
                total += len(segment)
                if total > max_size:
                    raise HTTPRequestEntityTooLarge("Your request is too large.")
                if segment or total == 0:  # an empty object is one empty segment
                    hasher.update(segment)
                    self._send_segment(writer, policy.driver.encode(segment), target)
                if len(segment) < segment_size or total == length:
                    break
        except BaseException:
            writer.abort()  # every node sees a short body and keeps nothing
            raise
        answers = writer.finish()
        stored = [slot for slot, a in enumerate(answers) if 200 <= a.status < 300]
        if len(stored) < target.quorum:
            return answers  # not committed: the archives stay invisible (reclaimed later)
        etag = hasher.hexdigest()
        if expected and unquote_etag(expected).lower() != etag:
            raise HTTPUnprocessableEntity("Etag does not match the body")
        return self._commit(target, answers, stored, etag, total)

    def _send_segment(self, writer: StreamingWrite, fragments: list[bytes],
                      target: WriteTarget) -> None:
        """Send fragment *i* to slot *i*, ``chunk_size`` bytes to each node in turn: a
        whole fragment (256 KiB for 1 MiB and k=4) would fill a node's socket buffer and
        keep the others waiting, while small pieces keep every node busy at once."""
        policy, step = self.policy, self.chunk_size
        # memoryviews: a piece is a view, not a copy of the fragment's bytes
        by_slot = [memoryview(fragments[policy.frag_index(slot)])
                   for slot in range(len(target.nodes))]
        for offset in range(0, len(by_slot[0]), step):

            def piece(slot: int, start: int = offset) -> memoryview:
                return by_slot[slot][start:start + step]

            if writer.send_each(piece) < target.quorum:
                raise HTTPServiceUnavailable("Too few nodes took the object")

    def _commit(self, target: WriteTarget, answers: list[Answer], stored: list[int],
                etag: str, length: int) -> list[Answer]:
        """The second phase, to each node that stored its archive; one answer per slot."""
        commits: list[tuple[dict, dict] | None] = []
        for slot in stored:
            node = answers[slot].node
            slot_headers = dict(target.headers[slot])
            slot_headers.pop("ETag", None)
            slot_headers.pop("If-None-Match", None)  # decided by the first phase
            slot_headers.update({
                EC_COMMIT_HEADER: "yes",
                EC_FRAG_INDEX_HEADER: str(self.policy.frag_index(slot)),
                EC_ETAG: etag, EC_CONTENT_LENGTH: str(length), "Content-Length": "0"})
            commits.append((node, slot_headers) if node is not None else None)
        results = self.backend.write_exact(target.part, commits, "PUT", target.suffix)
        out = list(answers)
        for slot, answer in zip(stored, results, strict=True):
            out[slot] = answer
        return out
