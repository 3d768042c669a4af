"""The cluster configuration ``<oiofs_dir>/oiofs.conf``, applied to this process.

The file describes the cluster: the hash secret (``[hash]``), the storage policies
(``[storage-policy:N]``) and the limits (``[constraints]``). Every process of a cluster
loads it once at start through :func:`load_cluster_config`, which hands each part to the
module that owns it (:mod:`.hashing`, :mod:`.storage_policy`, :mod:`.constraints`). The
generic option and ini-file helpers are in :mod:`.config`.
"""

from __future__ import annotations

import os

from oiofs.common import constraints
from oiofs.common.config import DEFAULT_OIOFS_DIR, parse_ini
from oiofs.common.exceptions import ConfigError
from oiofs.common.hashing import set_hash_path_secret
from oiofs.common.storage_policy import POLICIES

# {path: sections} of the configuration this process loaded (one at most).
_loaded_cluster: dict[str, dict[str, dict[str, str]]] = {}


def load_cluster_config(directory: str | None = None,
                        required: bool = True) -> dict[str, dict[str, str]]:
    """Load ``<directory>/oiofs.conf`` and apply it to this process.

    Sets the hash secret, the constraints and the storage policies. Returns the parsed
    sections as ``{section: {option: value}}``. A missing hash secret is an error: a
    cluster whose nodes disagree on it loses track of its data.
    """
    directory = directory or os.environ.get("OIOFS_DIR") or DEFAULT_OIOFS_DIR
    path = os.path.join(directory, "oiofs.conf")
    if path in _loaded_cluster:
        return _loaded_cluster[path]
    if not os.path.exists(path):
        if required:
            raise ConfigError(f"cluster configuration {path} not found")
        return {}
    parser = parse_ini(path)
    sections = {name: dict(parser.items(name)) for name in parser.sections()}
    hash_conf = sections.get("hash", {})
    prefix = hash_conf.get("hash_path_prefix", "")
    suffix = hash_conf.get("hash_path_suffix", "")
    if not prefix and not suffix:
        raise ConfigError(f"{path}: [hash] needs hash_path_prefix or hash_path_suffix")
    set_hash_path_secret(prefix, suffix)
    try:
        constraints.load_constraints(sections.get("constraints", {}))
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None
    POLICIES.load(sections)
    _loaded_cluster.clear()
    _loaded_cluster[path] = sections
    return sections
