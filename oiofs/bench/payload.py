"""Object bodies: cheap to make, different per object, never held whole for large objects.

One block of random bytes is drawn per run; a body is that block repeated up to the wanted
size, with a tag naming the object written over its start, so no two objects of a run share
an MD5 (unless the size is too small to hold the tag). Large bodies are produced chunk by
chunk and hashed as they go.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

BLOCK_SIZE = 1024 * 1024
SEND_CHUNK = 64 * 1024


class Payloads:
    """Bodies for one benchmark run, all derived from one random block."""

    def __init__(self, block_size: int = BLOCK_SIZE):
        self.block = os.urandom(block_size)

    def small(self, tag: str, size: int) -> bytes:
        """A body of ``size`` bytes (``size`` at most the block size) starting with ``tag``."""
        if size > len(self.block):
            raise ValueError(f"small bodies are at most {len(self.block)} bytes")
        head = tag.encode()[:size]
        return head + self.block[len(head):size]

    def large(self, tag: str, size: int) -> LargeBody:
        """A streamed body of ``size`` bytes starting with ``tag``."""
        return LargeBody(self.block, tag.encode(), size)


class LargeBody:
    """A body streamed in chunks of :data:`SEND_CHUNK`; :attr:`md5` is known once sent."""

    def __init__(self, block: bytes, head: bytes, size: int):
        self.block = memoryview(block)
        self.head = head[:size]
        self.size = size
        self.md5 = ""

    def chunks(self) -> Iterator[bytes | memoryview]:
        """Yield the body; each call starts over (so a request can be resent)."""
        digest = hashlib.md5()
        self.md5 = ""
        sent = 0
        if self.head:
            digest.update(self.head)
            yield self.head
            sent = len(self.head)
        block_len = len(self.block)
        while sent < self.size:
            start = sent % block_len
            piece = self.block[start:min(block_len, start + SEND_CHUNK, start + self.size - sent)]
            digest.update(piece)
            yield piece
            sent += len(piece)
        self.md5 = digest.hexdigest()
