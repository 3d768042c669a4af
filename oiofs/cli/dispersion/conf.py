"""``dispersion.conf``: where the cluster is, who to log in as, and how much to sample.

::

    [dispersion]
    auth_url = http://127.0.0.1:8080/auth/v1.0
    auth_user = test:tester
    auth_key = testing
    # directory of oiofs.conf and the rings (oiofs_dir; swift_dir is read too)
    oiofs_dir = /etc/oiofs
    # percent of the partitions to put a container (object) in
    dispersion_coverage = 1.0
    # parallel requests, and retries of a node that did not answer
    concurrency = 25
    retries = 5
    container_populate = yes
    object_populate = yes
    container_report = yes
    object_report = yes
    dump_json = no
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from oiofs.common.config import DEFAULT_OIOFS_DIR, conf_bool, conf_float, conf_int, parse_ini
from oiofs.common.exceptions import ConfigError

DEFAULT_CONF = "/etc/oiofs/dispersion.conf"
#: containers of the container sample are named ``dispersion_<n>``
CONTAINER_PREFIX = "dispersion_"
#: objects of the object sample (``dispersion_<n>``) go in ``dispersion_objects_<index>``
OBJECT_CONTAINER_PREFIX = "dispersion_objects_"
OBJECT_PREFIX = "dispersion_"


def object_container(policy_index: int) -> str:
    """The container holding the object sample of a policy."""
    return f"{OBJECT_CONTAINER_PREFIX}{policy_index}"


@dataclass(frozen=True)
class DispersionConf:
    """The options of ``[dispersion]``."""

    auth_url: str
    auth_user: str
    auth_key: str
    oiofs_dir: str = DEFAULT_OIOFS_DIR
    coverage: float = 1.0
    concurrency: int = 25
    retries: int = 5
    container_populate: bool = True
    object_populate: bool = True
    container_report: bool = True
    object_report: bool = True
    dump_json: bool = False
    conn_timeout: float = 0.5
    node_timeout: float = 10.0


def load_dispersion_conf(path: str) -> DispersionConf:
    """Read ``[dispersion]`` of ``path``; :class:`ConfigError` if it or an option is bad."""
    if not os.path.exists(path):
        raise ConfigError(f"{path} not found (see docs/dispersion.md)")
    parser = parse_ini(path)
    if not parser.has_section("dispersion"):
        raise ConfigError(f"{path}: no [dispersion] section")
    conf = dict(parser.items("dispersion"))
    missing = [k for k in ("auth_url", "auth_user", "auth_key") if not conf.get(k)]
    if missing:
        raise ConfigError(f"{path}: [dispersion] needs {', '.join(missing)}")
    try:
        coverage = conf_float(conf, "dispersion_coverage", 1.0)
        result = DispersionConf(
            auth_url=conf["auth_url"], auth_user=conf["auth_user"], auth_key=conf["auth_key"],
            oiofs_dir=conf.get("oiofs_dir") or conf.get("swift_dir") or DEFAULT_OIOFS_DIR,
            coverage=coverage, concurrency=conf_int(conf, "concurrency", 25, minimum=1),
            retries=conf_int(conf, "retries", 5, minimum=0),
            container_populate=conf_bool(conf, "container_populate", True),
            object_populate=conf_bool(conf, "object_populate", True),
            container_report=conf_bool(conf, "container_report", True),
            object_report=conf_bool(conf, "object_report", True),
            dump_json=conf_bool(conf, "dump_json", False),
            conn_timeout=conf_float(conf, "conn_timeout", 0.5),
            node_timeout=conf_float(conf, "node_timeout", 10.0))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if not 0 < coverage <= 100:
        raise ConfigError(f"{path}: dispersion_coverage must be above 0 and at most 100")
    return result
