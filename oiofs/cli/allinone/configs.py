"""The files an all-in-one cluster runs on: cluster config, server configs, proxy config.

Written on every ``start`` except ``oiofs.conf``, whose hash secret is made once and kept
(changing it would lose track of every stored object), and the token secret, kept with it.
"""

from __future__ import annotations

import json
import os
import secrets

from oiofs.cli.allinone.layout import EC_DATA, EC_PARITY, EC_POLICY_NAME, Layout
from oiofs.common.fsutils import write_file_atomic
from oiofs.common.storage_policy import PREFERRED_EC_TYPES, available_ec_types

#: the proxy's pipeline, in Swift's order (docs/middleware.md)
PROXY_PIPELINE = " ".join((
    "admin", "gatekeeper", "healthcheck", "crossdomain", "list_endpoints", "domain_remap",
    "container_sync", "bulk", "tempurl", "ratelimit", "tempauth", "formpost", "staticweb",
    "account_quotas", "container_quotas", "slo", "dlo", "versioned_writes",
    "object_versioning", "symlink",
    "proxy-server"))

USERS = (
    # (account, user, key, groups)
    ("test", "tester", "testing", ".admin"),
    ("test2", "tester2", "testing2", ".admin"),
    ("test", "tester3", "testing3", ""),
    ("admin", "admin", "admin", ".admin .reseller_admin"),
)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_file_atomic(path, text.encode("utf-8"))


def write_cluster_conf(layout: Layout) -> None:
    """Write ``oiofs.conf`` with a fresh random secret unless it already exists."""
    path = os.path.join(layout.etc, "oiofs.conf")
    if os.path.exists(path):
        return
    _write(path, f"""\
# oiofs cluster configuration of an all-in-one cluster (see etc/oiofs.conf.sample).
[hash]
# The secret mixed into every placement hash. Never change it once data is stored.
hash_path_prefix = {secrets.token_hex(8)}
hash_path_suffix = {secrets.token_hex(8)}

[storage-policy:0]
name = Policy-0
default = yes
policy_type = replication
{_ec_policy_section(layout)}""")


def _ec_policy_section(layout: Layout) -> str:
    """The ec42 policy's section (``docs/erasure-coding.md``), or nothing."""
    if not layout.has_ec_policy:
        return ""
    available = available_ec_types()
    ec_type = next((t for t in PREFERRED_EC_TYPES if t in available), "")
    return f"""
# Erasure coding: {EC_DATA} data + {EC_PARITY} parity fragments; its ring object-1.ring.gz
# places the {EC_DATA + EC_PARITY} fragment archives on the two devices of each node.
[storage-policy:1]
name = {EC_POLICY_NAME}
policy_type = erasure_coding
ec_type = {ec_type}
ec_num_data_fragments = {EC_DATA}
ec_num_parity_fragments = {EC_PARITY}
ec_object_segment_size = 1048576
"""


def token_secret(layout: Layout) -> str:
    """The proxy's token-signing secret, made once and kept beside ``oiofs.conf``."""
    path = os.path.join(layout.etc, "token_secret")
    if not os.path.exists(path):
        _write(path, secrets.token_hex(16))
        os.chmod(path, 0o600)
    with open(path) as handle:
        return handle.read().strip()


def save_layout(layout: Layout) -> None:
    """Remember the cluster's shape so that later commands need only ``--dir``."""
    _write(os.path.join(layout.etc, "allinone.json"), json.dumps({
        "nodes": layout.nodes, "replicas": layout.replicas, "port_base": layout.port_base,
        "part_power": layout.part_power, "account_backend": layout.account_backend,
        "ec_policy": layout.ec_policy},
        indent=1) + "\n")


def load_layout(root: str) -> Layout | None:
    """The layout saved in ``root``, or ``None`` if no cluster was made there."""
    path = os.path.join(root, "etc", "allinone.json")
    try:
        with open(path) as handle:
            saved = json.load(handle)
    except FileNotFoundError:
        return None
    saved.setdefault("ec_policy", False)  # made before erasure coding: none
    return Layout(root=root, **saved)


def _observability(layout: Layout, name: str) -> str:
    """Logging and metrics options of a server and its daemons: access lines at INFO,
    Prometheus on ``/metrics`` (the daemons' figures in the server's directory, so its
    page shows them too); statsd is left to the operator."""
    return f"""\
log_level = INFO
prometheus_enabled = true
prometheus_multiproc_dir = {os.path.join(layout.run, "metrics", name)}
# log_statsd_host = 127.0.0.1
# log_statsd_port = 8125
"""


def _common_defaults(layout: Layout, node: int, server_type: str, workers: int) -> str:
    return f"""\
[DEFAULT]
bind_ip = {layout.ip}
bind_port = {layout.port(node, server_type)}
workers = {workers}
devices = {layout.devices(node)}
mount_check = false
oiofs_dir = {layout.etc}
log_name = {server_type}-server-{node}
recon_cache_path = {layout.recon_cache(node)}
{_directory_options(layout, layout.location(node))}\
{_observability(layout, f"{server_type}-server-{node}")}"""


def _directory_options(layout: Layout, location: str) -> str:
    """The options that make a server register in the cluster's directory."""
    return f"""\
directory_endpoints = {layout.directory_url}
location = {location}
"""


def write_directory_conf(layout: Layout) -> None:
    """The directory's config: one process, its sqlite store under ``data/directory``."""
    os.makedirs(os.path.dirname(layout.directory_db), exist_ok=True)
    _write(layout.directory_conf, f"""\
[DEFAULT]
bind_ip = {layout.ip}
bind_port = {layout.directory_port}
workers = 0
oiofs_dir = {layout.etc}
log_name = directory-server
{_observability(layout, "directory-server")}
[pipeline:main]
pipeline = directory

[app:directory]
use = egg:oiofs#directory
store = sqlite
db_path = {layout.directory_db}
service_timeout = 15
""")


def write_server_confs(layout: Layout, workers: int = 0) -> None:
    """Write the account, container and object server configs of every node.

    ``workers`` 0 (the default) has each server serve in its one process: on a laptop a
    forked worker per server doubles the memory for no gain.
    """
    for node in layout.node_numbers():
        os.makedirs(os.path.join(layout.devices(node), layout.device_name(node)),
                    exist_ok=True)
        if layout.has_ec_policy:
            os.makedirs(os.path.join(layout.devices(node), layout.ec_device_name(node)),
                        exist_ok=True)
        for server_type in ("account", "container", "object"):
            text = _common_defaults(layout, node, server_type, workers)
            if server_type == "account" and layout.account_backend == "redis":
                # in [DEFAULT]: the replicator and auditor read it too (and idle)
                text += f"backend = redis\nredis_url = {layout.redis_url}\n"
            text += f"""
[pipeline:main]
pipeline = recon {server_type}-server

[filter:recon]
use = egg:oiofs#recon

[app:{server_type}-server]
use = egg:oiofs#{server_type}
"""
            text += _daemon_sections(server_type, node)
            _write(layout.server_conf(node, server_type), text)


#: options the all-in-one gives its daemons: short passes, so a laptop cluster heals fast
DAEMON_OPTIONS = {"interval": "30", "log_level": "INFO"}  # INFO: pass summaries
#: options of one daemon beside those (one line per daemon that needs its own)
DAEMON_EXTRA_OPTIONS: dict[str, dict[str, str]] = {
    # a stopped node's share of the misplaced objects is taken over after 5 minutes
    "container-reconciler": {"takeover_delay": "300"},
}


def _daemon_sections(server_type: str, node: int) -> str:
    """One section per daemon that runs beside ``server_type`` (defaults come from code)."""
    from oiofs.cli.daemon import daemons_of

    text = ""
    for name in daemons_of(server_type):
        text += f"\n[{name}]\nlog_name = {name}-{node}\n"
        options = dict(DAEMON_OPTIONS, **DAEMON_EXTRA_OPTIONS.get(name, {}))
        text += "".join(f"{k} = {v}\n" for k, v in options.items())
    return text


def write_redis_conf(layout: Layout) -> None:
    """The config of the accounts' Redis: its own port and directory, every update in the
    append-only file and fsynced before it is acknowledged (``appendfsync always``)."""
    _write(layout.redis_conf, f"""\
# The Redis of the all-in-one cluster's accounts (written by oiofs-allinone start).
bind {layout.ip}
port {layout.redis_port}
protected-mode yes
daemonize no
dir {layout.redis_dir}
logfile ""
# no snapshots: the append-only file is the data, fsynced at every write
save ""
appendonly yes
appendfsync always
# the config path in the process title lets oiofs-allinone recognise its own Redis
proc-title-template "{{title}} {{listen-addr}} {{config-file}}"
""")


def write_proxy_conf(layout: Layout, workers: int = 2) -> None:
    """Write the proxy config: the filters of ``PROXY_PIPELINE`` (tempauth with the test
    users), the proxy app."""
    users = "\n".join(
        f"user_{account}_{user} = {key}{' ' + groups if groups else ''}"
        for account, user, key, groups in USERS)
    # one [filter:<name>] section per filter of the pipeline, with the options it needs
    options = {"tempauth": f"token_secret = {token_secret(layout)}\n{users}\n",
               "domain_remap": "storage_domain = example.com\n"}
    filters = "\n".join(f"[filter:{name}]\nuse = egg:oiofs#{name}\n{options.get(name, '')}"
                        for name in PROXY_PIPELINE.split()[:-1])
    _write(layout.proxy_conf, f"""\
[DEFAULT]
bind_ip = {layout.ip}
bind_port = {layout.proxy_port}
workers = {workers}
oiofs_dir = {layout.etc}
log_name = proxy-server
{_directory_options(layout, "1.0.proxy.0")}\
{_observability(layout, "proxy-server")}
[pipeline:main]
pipeline = {PROXY_PIPELINE}

{filters}
[app:proxy-server]
use = egg:oiofs#proxy
account_autocreate = true
conscience_refresh_interval = 2
""")
