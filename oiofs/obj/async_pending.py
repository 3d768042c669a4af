"""Async pendings: container updates that could not be delivered, kept for the updater.

When an object server cannot tell a container server about a PUT or DELETE (error status,
timeout, refused connection), it writes the update to
``<device>/async_pending[-N]/<suffix>/<hash>-<timestamp>`` as JSON::

    {"op": "PUT", "account": "a", "container": "c", "obj": "o",
     "headers": {"X-Timestamp": "...", "X-Size": "...", ...}}

The object updater daemon (:mod:`oiofs.obj.updater`) replays it to every container replica
and unlinks it once every replica accepted it (those that did are listed in the file,
under ``"successes"``, meanwhile). The same mechanism carries rows of the expiry queue
(``account`` is then ``.expiring_objects``, and the name hash is the row's). The file is
written to a temporary name in the same directory, fsynced, renamed and the directory
fsynced (:func:`oiofs.common.fsutils.write_file_atomic`): it survives a crash as soon as
the write returns. Temporary names start with a dot; readers skip them. One pending per
object and timestamp: a second failure for the same update rewrites the same file with the
same content.
"""

from __future__ import annotations

import json
import os

from oiofs.common.fsutils import mkdirs_durable, write_file_atomic
from oiofs.common.storage_policy import StoragePolicy

ASYNC_DIR = "async_pending"


def async_dir(device_path: str, policy: StoragePolicy) -> str:
    """The async pending directory of ``policy`` on a device."""
    return os.path.join(device_path, policy.get_diskfile_dir(ASYNC_DIR))


def async_pending_path(device_path: str, policy: StoragePolicy, name_hash: str,
                       timestamp_internal: str) -> str:
    """The file of the pending update for object ``name_hash`` at ``timestamp_internal``."""
    return os.path.join(async_dir(device_path, policy), name_hash[-3:],
                        f"{name_hash}-{timestamp_internal}")


def write_async_pending(device_path: str, policy: StoragePolicy, name_hash: str,
                        timestamp_internal: str, update: dict) -> str:
    """Durably write ``update`` (op, account, container, obj, headers); its path."""
    path = async_pending_path(device_path, policy, name_hash, timestamp_internal)
    data = json.dumps(update, ensure_ascii=False).encode("utf-8")
    for attempt in range(3):
        # the suffix directory may be new: create it durably, or the fsynced file could be
        # lost with its directory in a crash
        mkdirs_durable(os.path.dirname(path), stop_at=device_path)
        try:
            write_file_atomic(path, data)
            return path
        except FileNotFoundError:
            # the object updater removes suffix directories it emptied; it may do so
            # between our mkdir and our write: make the directory again
            if attempt == 2:
                raise
    return path


def read_async_pending(path: str) -> dict:
    """The update stored at ``path``; ``ValueError`` if it is not a valid pending."""
    with open(path, "rb") as handle:
        update = json.loads(handle.read())
    if not isinstance(update, dict) or not {"op", "account", "container", "obj",
                                            "headers"} <= update.keys():
        raise ValueError(f"{path} is not an async pending")
    return update
