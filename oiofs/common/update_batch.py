"""The body of a container ``UPDATE``: several object rows of one container in one request.

An object server tells a container about each object write with one request per row
(``PUT``/``DELETE /d/p/a/c/o``, ``docs/backend-protocol.md``). When updates for one
container database pile up (a request to it is in flight already), the object server
sends the ones that waited meanwhile together, as ``UPDATE /d/p/a/c`` whose body is a JSON
array of rows; the container server appends them all to the database's pending file with
one fsync, and answers 202 only once they are durable. Each row carries exactly what the
single request would have: its operation, the object name (as text) and the headers
(``X-Timestamp``, ``X-Size``, ``X-Content-Type``, ``X-Etag``, the policy index...), with
their values as WSGI strings, as the headers of a single request would be.

Sans-IO: :func:`encode_batch` and :func:`decode_batch` only turn rows into bytes and
back, checking the shape (a :class:`ValueError` says what is wrong).

>>> rows = [UpdateRow("PUT", "o1", {"X-Timestamp": "1.00000", "X-Size": "3"})]
>>> decode_batch(encode_batch(rows)) == rows
True
>>> decode_batch(b'[{"op": "POST", "obj": "o", "headers": {}}]')
Traceback (most recent call last):
...
ValueError: row 0: op must be PUT or DELETE
"""

from __future__ import annotations

import json
from typing import NamedTuple

#: the verb of a batch of rows (Swift's container server has an UPDATE verb too)
UPDATE_METHOD = "UPDATE"
#: at most this many rows in one UPDATE; a sender splits larger piles
MAX_BATCH_ROWS = 256
#: and at most this many bytes of body
MAX_BATCH_BYTES = 1024 * 1024
ROW_OPS = ("PUT", "DELETE")


class UpdateRow(NamedTuple):
    """One object row of a batch: what a single ``PUT``/``DELETE /d/p/a/c/o`` carries."""

    op: str
    obj: str
    headers: dict[str, str]


def encode_batch(rows: list[UpdateRow]) -> bytes:
    """The JSON body of an ``UPDATE`` carrying ``rows``."""
    return json.dumps([{"op": row.op, "obj": row.obj, "headers": row.headers}
                       for row in rows], separators=(",", ":")).encode("utf-8")


def decode_batch(body: bytes) -> list[UpdateRow]:
    """The rows of an ``UPDATE`` body; :class:`ValueError` saying what is wrong with it."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("body is not JSON") from None
    if not isinstance(items, list) or not items:
        raise ValueError("body must be a non-empty JSON array of rows")
    if len(items) > MAX_BATCH_ROWS:
        raise ValueError(f"more than {MAX_BATCH_ROWS} rows")
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"row {i}: not an object")
        op, obj, headers = item.get("op"), item.get("obj"), item.get("headers")
        if op not in ROW_OPS:
            raise ValueError(f"row {i}: op must be PUT or DELETE")
        if not isinstance(obj, str) or not obj:
            raise ValueError(f"row {i}: obj must be a non-empty string")
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ValueError(f"row {i}: headers must be an object of strings")
        rows.append(UpdateRow(op, obj, headers))
    return rows
