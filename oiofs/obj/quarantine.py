"""Quarantine: moving a bad object aside so that replication restores a good copy.

A hash directory whose files cannot be trusted (unreadable metadata, a bad checksum, a size
that disagrees with the metadata) is renamed, whole, to
``<device>/quarantined/objects[-N]/<hash>`` - never deleted: an operator may want it back.
Once it is gone from the object tree the object reads as missing here, the suffix is marked
changed, and the replicator copies a good replica back from a peer.
"""

from __future__ import annotations

import errno
import os
import uuid

from oiofs.common.fsutils import fsync_dir, mkdirs_durable
from oiofs.common.storage_policy import StoragePolicy
from oiofs.obj.hashes import invalidate_hash

QUARANTINE_DIR = "quarantined"


def quarantine_dir(device_path: str, policy: StoragePolicy) -> str:
    """Where the hash directories of ``policy`` on a device are quarantined."""
    return os.path.join(device_path, QUARANTINE_DIR, policy.get_diskfile_dir("objects"))


def quarantine_hash_dir(device_path: str, hash_dir: str, policy: StoragePolicy) -> str | None:
    """Rename ``hash_dir`` into the device's quarantine; the new path (``None`` if it was gone).

    A name already taken in quarantine (the same object quarantined before) gets a random
    suffix, so nothing quarantined earlier is overwritten.
    """
    target_dir = quarantine_dir(device_path, policy)
    mkdirs_durable(target_dir, stop_at=device_path)
    target = os.path.join(target_dir, os.path.basename(hash_dir))
    try:
        try:
            os.rename(hash_dir, target)
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            target = f"{target}-{uuid.uuid4().hex}"
            os.rename(hash_dir, target)
    except FileNotFoundError:
        return None  # someone else moved it first
    # fsync both directories, or a crash could bring the bad files back into service
    fsync_dir(target_dir)
    suffix_dir = os.path.dirname(hash_dir)
    fsync_dir(suffix_dir)
    invalidate_hash(suffix_dir)
    return target
