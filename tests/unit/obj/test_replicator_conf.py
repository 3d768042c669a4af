"""The sample config builds the replicator, reconstructor and auditor and documents their
options."""

import os
import re

from oiofs.cli.daemon import DAEMONS
from oiofs.common.config import readconf
from oiofs.obj.auditor import ObjectAuditor
from oiofs.obj.reconstructor import ObjectReconstructor
from oiofs.obj.replicator import ObjectReplicator

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "etc",
                      "object-server.conf.sample")
OPTIONS = {
    "object-replicator": ("interval", "concurrency", "conn_timeout", "node_timeout",
                          "http_timeout", "reclaim_age", "full_rehash_interval",
                          "handoffs_first", "lockup_timeout", "stats_interval",
                          "network_chunk_size", "sync_check_interval"),
    "object-reconstructor": ("interval", "concurrency", "conn_timeout", "node_timeout",
                             "http_timeout", "reclaim_age", "full_rehash_interval",
                             "handoffs_first", "lockup_timeout", "stats_interval",
                             "network_chunk_size"),
    "object-auditor": ("interval", "files_per_second", "bytes_per_second",
                       "zero_byte_files_per_second", "disk_chunk_size"),
}


def test_sample_sections_build_the_daemons(devices):
    conf = readconf(SAMPLE, "object-replicator")
    conf["devices"] = devices
    replicator = ObjectReplicator(conf)
    assert (replicator.bind_port, replicator.concurrency, replicator.reclaim_age) == \
        (6200, 2, 604800)
    conf = readconf(SAMPLE, "object-reconstructor")
    conf["devices"] = devices
    reconstructor = ObjectReconstructor(conf)
    assert (reconstructor.concurrency, reconstructor.node_timeout) == (2, 10.0)
    auditor = ObjectAuditor(readconf(SAMPLE, "object-auditor"))
    assert (auditor.files_per_second, auditor.bytes_per_second) == (20, 10485760)


def test_every_option_is_documented_in_its_section():
    with open(SAMPLE) as handle:
        text = handle.read()
    for section, options in OPTIONS.items():
        body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        for option in options:
            assert re.search(rf"^((?:# .*\n)+)# {option} =", body, re.MULTILINE), \
                f"{option} is not documented in [{section}]"
    assert re.search(r"^((?:# .*\n)+)# reclaim_age =",
                     text.split("\n[app:object-server]")[1].split("\n[")[0], re.MULTILINE)


def test_daemons_are_registered():
    assert DAEMONS["object-replicator"] == "oiofs.obj.replicator:ObjectReplicator"
    assert DAEMONS["object-auditor"] == "oiofs.obj.auditor:ObjectAuditor"
    assert DAEMONS["object-reconstructor"] == "oiofs.obj.reconstructor:ObjectReconstructor"
