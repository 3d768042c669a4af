"""etc/object-server.conf.sample builds the server and documents every option it reads."""

import os
import re

from oiofs.common.config import load_wsgi_app
from oiofs.common.recon import ReconMiddleware
from oiofs.obj.server import ObjectServer

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "etc",
                      "object-server.conf.sample")
OPTIONS = ("bind_ip", "bind_port", "workers", "client_timeout", "devices", "mount_check",
           "oiofs_dir", "log_name", "log_level", "log_file", "log_requests",
           "container_update_timeout", "conn_timeout", "node_timeout", "disk_chunk_size",
           "network_chunk_size", "keep_cache_size", "fallocate_reserve", "fsync_in_threads",
           "allowed_headers", "verify_block_checksums")


def test_sample_builds_the_object_server(devices):
    app = load_wsgi_app(SAMPLE, global_conf={"devices": devices})
    assert isinstance(app, ReconMiddleware)  # /recon in front (docs/recon.md)
    server = app.app
    assert isinstance(server, ObjectServer)
    assert server.manager.devices == devices


def test_every_option_is_in_the_sample_with_a_comment():
    with open(SAMPLE) as handle:
        text = handle.read()
    for option in OPTIONS:
        match = re.search(rf"^((?:# .*\n)+)#? ?{option} =", text, re.MULTILINE)
        assert match, f"{option} is not documented in the sample"
