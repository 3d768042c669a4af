"""One account, one container and one object server (subprocesses) on 127.0.0.1, each
with three devices in zones 1-3, so that every ring has three replicas served by one
process: the smallest cluster the daemons that talk to every server type can run on.

>>> with small_cluster("/tmp/x") as cluster:  # doctest: +SKIP
...     cluster["rings"]["object"].get_nodes("a", "c", "o")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from oiofs.common.ring import Ring, RingBuilder
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

DEVICES = ("sda", "sdb", "sdc")
#: ``cluster_conf`` of two replicated policies (their rings: ``object``, ``object-1``)
TWO_POLICIES = """
[storage-policy:0]
name = gold
default = yes

[storage-policy:1]
name = silver
"""
TYPES = ("object", "container", "account")


@contextmanager
def small_cluster(base: str, object_rings: tuple[str, ...] = ("object",),
                  cluster_conf: str = "") -> Iterator[dict]:
    """Start the three servers under directory ``base`` (``oiofs.conf`` with
    ``cluster_conf`` added, one object ring per name of ``object_rings`` over the object
    server's devices); yield ``{"etc", "ports", "devices", "rings", "servers"}`` (rings and
    servers by name) and kill the servers on exit."""
    etc = os.path.join(base, "etc")
    write_cluster_conf(etc, cluster_conf)
    ports, servers, devices = {}, [], {}
    for server_type in TYPES:
        ports[server_type] = port = free_port()
        names = object_rings if server_type == "object" else (server_type,)
        for seed, ring_name in enumerate(names, 1):
            builder = RingBuilder(3, 3, 0)
            for zone, device in enumerate(DEVICES, 1):
                builder.add_dev({"region": 1, "zone": zone, "ip": "127.0.0.1", "port": port,
                                 "device": device, "weight": 100})
            builder.rebalance(seed=seed)
            builder.get_ring().save(os.path.join(etc, f"{ring_name}.ring.gz"))
        devices[server_type] = os.path.join(base, server_type)
        for device in DEVICES:
            os.makedirs(os.path.join(devices[server_type], device))
        conf = write_server_conf(os.path.join(base, f"{server_type}.conf"),
                                 f"egg:oiofs#{server_type}", {
                                     "bind_ip": "127.0.0.1", "bind_port": port, "workers": 0,
                                     "devices": devices[server_type],
                                     "mount_check": "false", "oiofs_dir": etc,
                                     "log_level": "WARNING"})
        servers.append(ServerProcess(server_type, conf, port))
    try:
        for server in servers:
            server.start()
        rings = {name: Ring(etc, ring_name=name)
                 for name in ("container", "account", *object_rings)}
        yield {"etc": etc, "ports": ports, "devices": devices, "rings": rings,
               "servers": dict(zip(TYPES, servers, strict=True))}
    finally:
        for server in servers:
            server.kill()
