"""The oiofs filesystem client: the seed's stores and a FUSE mount over them.

Modules, one concept each:

- :mod:`~oiofs.fs.errors`: the seed's exceptions (no such object, already exists, ...).
- :mod:`~oiofs.fs.store`: the :class:`Store` interface every backend implements.
- :mod:`~oiofs.fs.paths`: absolute filesystem paths, checked and split.
- :mod:`~oiofs.fs.local_store`: :class:`LocalStore`, a store over a local directory.
- :mod:`~oiofs.fs.cache_index`: the crash-safe index of the local cache (sqlite).
- :mod:`~oiofs.fs.stats`: upload/download rates, exception log (:class:`CacheStats`).
- :mod:`~oiofs.fs.writers`: the adaptive number of writer workers.
- :mod:`~oiofs.fs.caching_store`: :class:`CachingStore`, the write-back cache.
- :mod:`~oiofs.fs.fuse_ops`: the FUSE operations over a caching store.
- :mod:`~oiofs.fs.mount`: the ``oiofs-mount`` command.
"""

from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    InvalidPathValueError,
    NoSuchFilesystemObjectError,
    StoreAccessError,
    StoreError,
)
from oiofs.fs.store import Store

__all__ = [
    "AlreadyExistsError",
    "DirectoryNotEmptyError",
    "InvalidPathValueError",
    "NoSuchFilesystemObjectError",
    "Store",
    "StoreAccessError",
    "StoreError",
]
