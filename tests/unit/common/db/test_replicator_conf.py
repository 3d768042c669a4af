"""The daemon sections of the container and account server config samples.

Every option a database daemon reads must be documented (commented out, with its
default) in its section of the sample, and the documented values must build the daemon.
"""

from __future__ import annotations

import configparser
import logging
import os
import types

import pytest

from oiofs.account.auditor import AccountAuditor
from oiofs.account.replicator import AccountReplicator
from oiofs.cli.daemon import DAEMONS
from oiofs.common.metrics import OPTIONS as METRICS_OPTIONS
from oiofs.container.auditor import ContainerAuditor
from oiofs.container.replicator import ContainerReplicator
from oiofs.container.updater import ContainerUpdater
from oiofs.proxy.reconciler import ContainerReconciler

ETC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "etc")
#: options that come from [DEFAULT], documented there
FROM_DEFAULT = {"devices", "mount_check", "bind_ip", "bind_port", "oiofs_dir",
                *METRICS_OPTIONS}


class RecordingConf(dict):
    """A conf dict that remembers which options were asked for."""

    def __init__(self, *args):
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)


def documented(sample: str, section: str) -> dict[str, str]:
    """``{option: value}`` of the commented-out options of a section of a sample."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(os.path.join(ETC, sample)) as handle:
        text = handle.read()
    parser.read_string(text)
    assert parser.has_section(section), f"{sample} has no [{section}]"
    options = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.strip() == f"[{section}]"
        elif inside and line.startswith("# ") and " = " in line:
            key, _, value = line[2:].partition(" = ")
            if key.isidentifier():
                options[key.strip()] = value.strip()
    return options


@pytest.mark.parametrize("sample, klass", [
    ("container-server.conf.sample", ContainerReplicator),
    ("container-server.conf.sample", ContainerUpdater),
    ("container-server.conf.sample", ContainerAuditor),
    ("account-server.conf.sample", AccountReplicator),
    ("account-server.conf.sample", AccountAuditor),
    ("container-server.conf.sample", ContainerReconciler),
])
def test_every_option_is_documented_and_builds(sample, klass):
    options = documented(sample, klass.name)
    conf = RecordingConf(options)
    logger = logging.getLogger("test.conf")
    if klass is ContainerUpdater:
        daemon = klass(conf, logger=logger, container_ring=object(), account_ring=object())
    elif klass is ContainerReconciler:  # its in-process proxy reads the proxy's options
        app = types.SimpleNamespace(account_ring=object(), container_ring=object())
        daemon = klass(conf, logger=logger, app=app)
    else:
        daemon = klass(conf, logger=logger, ring=object())
    undocumented = conf.asked - set(options) - FROM_DEFAULT
    assert not undocumented, f"[{klass.name}] does not document {sorted(undocumented)}"
    assert daemon.interval == float(options["interval"])
    assert DAEMONS[klass.name] == f"{klass.__module__}:{klass.__name__}"
