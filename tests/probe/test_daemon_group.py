"""Every daemon of a node in one process (``oiofs-daemon group``), on a real cluster: the
daemons make passes, one that dies does not take the others down and is started again,
and SIGTERM stops the whole process."""

import configparser
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oiofs.cli.allinone.processes import group_alive
from oiofs.cli.daemon import DAEMONS, daemons_of
from oiofs.common.recon_cache import load_recon_cache
from tests.support.waiting import wait_for


@pytest.fixture
def node_confs(cluster, tmp_path):
    """Node 1's three server configs, with quick passes, a recon cache of the test's own,
    and an object-expirer section that cannot start (its ``process`` is out of range)."""
    paths = []
    for server_type in ("account", "container", "object"):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(cluster.layout.server_conf(1, server_type))
        parser["DEFAULT"]["recon_cache_path"] = str(tmp_path / "cache")
        for section in parser.sections():
            if section.startswith(server_type + "-") and section != f"{server_type}-server":
                parser[section]["interval"] = "0.5"
        if server_type == "object":
            parser["object-expirer"]["processes"] = "2"
            parser["object-expirer"]["process"] = "5"
        path = tmp_path / f"{server_type}-server.conf"
        with open(path, "w") as handle:
            parser.write(handle)
        paths.append(str(path))
    return paths, tmp_path / "cache"


def test_grouped_daemons_survive_a_dead_one_and_stop_on_sigterm(node_confs, tmp_path):
    confs, cache = node_confs
    log_path = tmp_path / "group.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oiofs.cli.daemon", "group", *confs, "--log-name",
             "group-1", "--restart-delay", "0.2"],
            stdout=log, stderr=log, start_new_session=True)
    try:
        def recon(server_type):
            return load_recon_cache(os.path.join(cache, f"{server_type}.recon"))

        wait_for(lambda: recon("object").get("object_replication_last")
                 and recon("object").get("object_updater_sweep") is not None
                 and recon("object").get("object_auditor_stats_ALL")
                 and recon("container").get("container_updater_sweep") is not None
                 and recon("container").get("replication_last")
                 and recon("account").get("account_audits_since"),
                 timeout=120, what="a pass of each daemon in the recon cache")
        crashes = lambda: log_path.read_text(errors="replace").count(  # noqa: E731
            "object-expirer stopped (ConfigError")
        wait_for(lambda: crashes() >= 2, timeout=60,
                 what="the broken object-expirer to be started again after dying")
        # the others go on making passes after the crashes
        last = recon("container")["replication_last"]
        wait_for(lambda: recon("container")["replication_last"] > last, timeout=60,
                 what="another container-replicator pass")
        assert proc.poll() is None
        text = log_path.read_text(errors="replace")
        assert f"running {len(DAEMONS)} daemons in one process" in text, text[:2000]
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=30)
    assert status == 0
    assert not group_alive(proc.pid)


def passes_on_page(port):
    """``{daemon: passes}`` on the ``/metrics`` page of the server at ``port``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {sample.labels["server"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "oiofs_events_total" and sample.labels["event"] == "passes"}


def test_each_grouped_daemon_counts_its_passes_on_its_own_server_page(cluster, node_confs,
                                                                        tmp_path):
    """One process runs daemons of three server types; each server's ``/metrics``
    shows the passes of its own daemons, and none of another type's."""
    confs, _cache = node_confs
    ports = {t: cluster.layout.port(1, t) for t in ("account", "container", "object")}
    wanted = {"account": "account-replicator", "container": "container-replicator",
              "object": "object-updater"}
    # an earlier test's group may have counted some already
    before = {t: passes_on_page(ports[t]).get(d, 0) for t, d in wanted.items()}
    with open(tmp_path / "group.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oiofs.cli.daemon", "group", *confs],
            stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: all(passes_on_page(ports[t]).get(d, 0) > before[t]
                             for t, d in wanted.items()),
                 timeout=120, what="each server's page to count its daemon's passes")
        for server_type, port in ports.items():
            daemons = set(passes_on_page(port))
            assert daemons and daemons <= set(daemons_of(server_type)), (
                server_type, daemons)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
