"""Bulk delete as parallel DELETEs.

Swift's ``bulk`` middleware (``?bulk-delete``) is not in the oiofs pipeline (the proxy
answers 501 naming it), so many objects are deleted with one ``DELETE`` each, ``threads``
at a time over the shared keep-alive pool. Each name gets its own outcome; one failure
does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from oiofs.client.errors import ClientError, NotFound

if TYPE_CHECKING:
    from oiofs.client.connection import Connection


def delete_many(conn: Connection, container: str, names: Iterable[str],
                threads: int = 8) -> dict[str, int | Exception]:
    """``{name: 204 | 404 | ClientError}``: 204 deleted, 404 was not there."""

    def one(name: str) -> int | Exception:
        try:
            conn.delete_object(container, name)
            return 204
        except NotFound:
            return 404
        except ClientError as err:
            return err

    names = list(names)
    with ThreadPoolExecutor(max_workers=max(1, threads),
                            thread_name_prefix="oiofs-delete") as pool:
        return dict(zip(names, pool.map(one, names), strict=True))
