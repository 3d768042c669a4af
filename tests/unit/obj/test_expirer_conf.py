"""The sample config builds the updater and the expirer and documents every option."""

import os
import re

import pytest

from oiofs.cli.daemon import DAEMONS
from oiofs.common.config import readconf
from oiofs.common.exceptions import ConfigError
from oiofs.common.ring import RingBuilder
from oiofs.obj.expirer import ObjectExpirer
from oiofs.obj.updater import ObjectUpdater

ETC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "etc")
SAMPLE = os.path.join(ETC, "object-server.conf.sample")
OPTIONS = {
    "object-updater": ("interval", "concurrency", "objects_per_second", "slowdown",
                       "conn_timeout", "node_timeout"),
    "object-expirer": ("interval", "concurrency", "tasks_per_second", "processes", "process",
                       "takeover_delay", "expiring_objects_container_divisor",
                       "conn_timeout", "node_timeout"),
}


@pytest.fixture
def rings(oiofs_dir):
    for name in ("account", "container", "object"):
        builder = RingBuilder(2, 1, 0)
        builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": 6200,
                         "device": "sda", "weight": 100})
        builder.rebalance(seed=1)
        builder.get_ring().save(os.path.join(oiofs_dir, f"{name}.ring.gz"))
    return oiofs_dir


def test_sample_sections_build_the_daemons(rings, devices):
    conf = dict(readconf(SAMPLE, "object-updater"), oiofs_dir=rings, devices=devices)
    updater = ObjectUpdater(conf)
    assert (updater.interval, updater.concurrency, updater.objects_per_second,
            updater.node_timeout) == (300, 8, 50, 10)
    conf = dict(readconf(SAMPLE, "object-expirer"), oiofs_dir=rings, bind_ip="127.0.0.1")
    expirer = ObjectExpirer(conf)
    assert (expirer.interval, expirer.concurrency, expirer.takeover_delay,
            expirer.divisor) == (300, 4, 3600, 86400)
    # the sample's bind_port (6200) is the only object server of the ring
    assert expirer.my_share() == (0, 1)


def test_every_option_is_documented_in_its_section():
    with open(SAMPLE) as handle:
        text = handle.read()
    for section, options in OPTIONS.items():
        body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        for option in options:
            assert re.search(rf"^((?:# .*\n)+)# {option} =", body, re.MULTILINE), \
                f"{option} is not documented in [{section}]"
    for sample, section in (("object-server.conf.sample", "\n[app:object-server]"),
                            ("proxy-server.conf.sample", "\n[app:proxy-server]")):
        with open(os.path.join(ETC, sample)) as handle:
            body = handle.read().split(section, 1)[1].split("\n[", 1)[0]
        assert re.search(r"^((?:# .*\n)+)# expiring_objects_container_divisor = 86400",
                         body, re.MULTILINE), sample


def test_process_must_be_below_processes(rings):
    with pytest.raises(ConfigError):
        ObjectExpirer({"oiofs_dir": rings, "processes": "2", "process": "2"})
    expirer = ObjectExpirer({"oiofs_dir": rings, "processes": "3", "process": "2"})
    assert expirer.my_share() == (2, 3)


def test_a_node_without_object_devices_handles_nothing(rings):
    expirer = ObjectExpirer({"oiofs_dir": rings, "bind_ip": "127.0.0.1", "bind_port": "1"})
    assert expirer.my_share()[0] == -1
    assert expirer.run_once().found == 0


def test_daemons_are_registered():
    assert DAEMONS["object-updater"] == "oiofs.obj.updater:ObjectUpdater"
    assert DAEMONS["object-expirer"] == "oiofs.obj.expirer:ObjectExpirer"
