"""Finding the databases on this node: what the database daemons walk.

The replicators, the container updater and the auditors all visit every database under
``<devices>/<dev>/<datadir>/<part>/<suffix>/<hash>/<hash>.db`` on the devices of the ring
that belong to the server they run beside. This module knows that layout (the brokers
know it from the names, :func:`oiofs.common.db.broker.db_dir_for`; a replication peer only has
the hash) and which devices are local.

It also owns the device's ``tmp`` directory entries of database replication: snapshots
being sent and copies being received live there (same filesystem as the databases, so a
received copy is linked into place without copying), under prefixes that let a later pass
remove what a killed process left behind.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from logging import Logger
from typing import Any

from oiofs.common.config import conf_bool, conf_int
from oiofs.common.local_devices import HasDevs, local_devices, whataremyips
from oiofs.common.ring.devices import Device

#: the device directory holding temporary files (shared with the object server)
TMP_DIR = "tmp"
#: a snapshot of a local database on its way to a peer
SNAPSHOT_PREFIX = "db-snapshot-"
#: a copy received from a peer, not yet checked and put in place
COPY_PREFIX = "db-copy-"
#: seconds after which a leftover snapshot or copy is surely abandoned
STALE_TMP_AGE = 86400.0

_HEX = frozenset("0123456789abcdef")


def is_valid_hash(text: str) -> bool:
    """True for a database name hash: 32 lower-case hex digits."""
    return len(text) == 32 and _HEX.issuperset(text)


def db_file_for_hash(devices: str, device: str, datadir: str, partition: int | str,
                     name_hash: str) -> str:
    """The database file of ``name_hash`` in a partition of a device."""
    return os.path.join(devices, device, datadir, str(partition), name_hash[-3:], name_hash,
                        name_hash + ".db")


def tmp_dir(devices: str, device: str) -> str:
    """The device's directory for temporary files."""
    return os.path.join(devices, device, TMP_DIR)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def iter_db_files(devices: str, device: str, datadir: str, shuffle: bool = True
                  ) -> Iterator[tuple[int, str]]:
    """``(partition, db file)`` for every database of a device.

    Partitions come in random order (``shuffle``) so that the nodes of a cluster do not
    all work on the same partitions at the same time. Directories that vanish while they
    are walked (a database removed, quarantined) are skipped.
    """
    base = os.path.join(devices, device, datadir)
    partitions = [p for p in _listdir(base) if p.isdigit()]
    if shuffle:
        random.shuffle(partitions)
    for part in partitions:
        part_dir = os.path.join(base, part)
        for suffix in _listdir(part_dir):
            suffix_dir = os.path.join(part_dir, suffix)
            for name_hash in _listdir(suffix_dir):
                if not is_valid_hash(name_hash):
                    continue
                db_file = os.path.join(suffix_dir, name_hash, name_hash + ".db")
                if os.path.exists(db_file):
                    yield int(part), db_file


def local_db_devices(ring: HasDevs, conf: dict[str, Any], logger: Logger | None = None
                     ) -> list[Device]:
    """The ring's devices served by this node's server (``bind_ip``/``bind_port`` of
    ``conf``) that can be used now: present, and mounted when ``mount_check`` is on."""
    devices = conf.get("devices", "/srv/node")
    mount_check = conf_bool(conf, "mount_check", True)
    port = conf_int(conf, "bind_port", 0)
    usable = []
    for dev in local_devices(ring, whataremyips(conf.get("bind_ip")), port):
        path = os.path.join(devices, dev["device"])
        if mount_check and not os.path.ismount(path):
            if logger:
                logger.warning("skipping %s: not mounted", path)
            continue
        if not os.path.isdir(path):
            if logger:
                logger.warning("skipping %s: no such device directory", path)
            continue
        usable.append(dev)
    return usable


def remove_stale_tmp(devices: str, device: str, max_age: float = STALE_TMP_AGE,
                     now: float | None = None) -> int:
    """Remove snapshots and received copies older than ``max_age``; how many went."""
    directory = tmp_dir(devices, device)
    now = time.time() if now is None else now
    removed = 0
    for name in _listdir(directory):
        if not name.startswith((SNAPSHOT_PREFIX, COPY_PREFIX)):
            continue
        path = os.path.join(directory, name)
        try:
            if now - os.stat(path).st_mtime > max_age:
                os.unlink(path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
