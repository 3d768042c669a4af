"""The all-in-one's layout, files and process control, without starting a cluster."""

import configparser
import os
import subprocess
import sys
import time

import pytest

from oiofs.cli.allinone import AllInOne, Layout, configs, processes
from oiofs.cli.allinone.cluster import AllInOneError
from tests.support.waiting import wait_for


def test_layout_ports_do_not_collide():
    lay = Layout(root="/x", nodes=4, port_base=9000)
    ports = [lay.proxy_port] + [lay.port(n, t) for n in lay.node_numbers()
                                for t in ("object", "container", "account")]
    assert len(set(ports)) == len(ports)
    assert lay.port(2, "container") == 9021
    assert lay.process_names(3, daemons=False) == ["object-server-3", "container-server-3",
                                                   "account-server-3"]
    assert lay.process_names()[0] == "proxy-server"


def test_prepare_writes_configs_and_keeps_secret(tmp_path, monkeypatch):
    aio = AllInOne(str(tmp_path), nodes=2, replicas=2, port_base=9100, part_power=4)
    monkeypatch.setattr(aio, "build_rings", lambda: None)  # rings: see the ring tests
    aio.prepare()
    oiofs_conf = tmp_path / "etc" / "oiofs.conf"
    first = oiofs_conf.read_text()
    aio.prepare()
    assert oiofs_conf.read_text() == first, "the hash secret must never change"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(aio.layout.server_conf(2, "object"))
    assert parser.defaults()["bind_port"] == "9120"
    assert parser.defaults()["devices"] == aio.layout.devices(2)
    assert os.path.isdir(os.path.join(aio.layout.devices(2), "d2"))
    proxy = configparser.ConfigParser(interpolation=None)
    proxy.read(aio.layout.proxy_conf)
    assert proxy["filter:tempauth"]["user_test_tester"] == "testing .admin"
    assert proxy["filter:tempauth"]["user_test_tester3"] == "testing3"
    container = configparser.ConfigParser(interpolation=None)
    container.read(aio.layout.server_conf(1, "container"))
    assert container["container-reconciler"]["interval"] == "30"  # short passes
    assert container["container-reconciler"]["takeover_delay"] == "300"
    assert "takeover_delay" not in container["container-replicator"]


def test_saved_layout_wins_over_new_flags(tmp_path, monkeypatch):
    aio = AllInOne(str(tmp_path), nodes=3, replicas=3, port_base=9200)
    monkeypatch.setattr(aio, "build_rings", lambda: None)
    aio.prepare()
    again = AllInOne(str(tmp_path), nodes=5, port_base=9999)
    assert again.layout.nodes == 3 and again.layout.port_base == 9200
    assert configs.load_layout(str(tmp_path / "nowhere")) is None


def test_stop_only_signals_processes_it_started(tmp_path):
    run, log = str(tmp_path / "run"), str(tmp_path / "log")
    marker = str(tmp_path)
    pid = processes.start_process(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)", marker],
        run, log, marker)
    # the child may still be between fork and exec (its command line not yet set)
    wait_for(lambda: processes.read_pid(run, "sleeper", marker) == pid, 5,
             "the sleeper's pid file to be obeyed", interval=0.01)
    # a pid file pointing at an unrelated process is not obeyed
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(processes.pid_path(run, "stranger"), "w") as handle:
            handle.write(str(stranger.pid))
        assert processes.stop_process("stranger", run, marker) is False
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
    assert processes.stop_process("sleeper", run, marker) is True
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        time.sleep(0.02)
    assert processes.read_pid(run, "sleeper", marker) is None


def test_redis_account_backend_files(tmp_path, monkeypatch):
    aio = AllInOne(str(tmp_path), nodes=2, replicas=2, port_base=9300,
                   account_backend="redis")
    monkeypatch.setattr(aio, "build_rings", lambda: None)
    aio.prepare()
    lay = aio.layout
    assert lay.redis_port == 9309 and lay.process_names()[-1] == "redis-server"
    account = configparser.ConfigParser(interpolation=None)
    account.read(lay.server_conf(1, "account"))
    assert account.defaults()["backend"] == "redis"
    assert account.defaults()["redis_url"] == "redis://127.0.0.1:9309/0"
    container = configparser.ConfigParser(interpolation=None)
    container.read(lay.server_conf(1, "container"))
    assert "backend" not in container.defaults()
    redis_conf = open(lay.redis_conf).read()
    assert "appendonly yes" in redis_conf and "appendfsync always" in redis_conf
    assert f"dir {lay.redis_dir}" in redis_conf and "port 9309" in redis_conf
    # the choice is kept with the cluster, and cannot be switched
    assert AllInOne(str(tmp_path)).layout.account_backend == "redis"
    with pytest.raises(AllInOneError, match="cannot switch"):
        AllInOne(str(tmp_path), account_backend="sqlite")


def test_unknown_account_backend_refused(tmp_path, capsys):
    from oiofs.cli.allinone.cluster import main

    with pytest.raises(SystemExit) as exit_:
        main(["start", "--dir", str(tmp_path), "--account-backend", "mysql"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_each_node_runs_its_daemons_in_one_process(tmp_path):
    lay = Layout(root=str(tmp_path), nodes=2)
    assert lay.process_names(2) == ["object-server-2", "container-server-2",
                                    "account-server-2", "daemons-2"]
    argv = processes.daemon_group_argv([lay.server_conf(2, "object")], "daemons-2")
    assert argv[1:5] == ["-m", "oiofs.cli.daemon", "group", lay.server_conf(2, "object")]


def test_once_with_an_unknown_daemon_lists_the_daemons(tmp_path, capsys):
    from oiofs.cli import daemon
    from oiofs.cli.allinone.cluster import main

    assert main(["once", "bogus", "--dir", str(tmp_path), "--port-base", "9400"]) == 1
    err = capsys.readouterr().err
    assert "unknown daemon 'bogus'" in err
    assert all(name in err for name in daemon.DAEMONS)
    assert daemon.main(["bogus", "x.conf"]) == 2
    assert "object-replicator" in capsys.readouterr().err


def test_status_says_when_given_options_differ_from_the_saved_cluster(tmp_path, capsys):
    from oiofs.cli.allinone.cluster import main

    configs.save_layout(Layout(root=str(tmp_path), nodes=4, part_power=6, port_base=9500))
    main(["status", "--dir", str(tmp_path), "--nodes", "3", "--part-power", "6"])
    out = capsys.readouterr().out
    assert "--nodes 3 differs from the saved cluster's 4" in out
    assert "part-power" not in out  # the same as saved: nothing to say
    main(["status", "--dir", str(tmp_path)])
    assert "differs" not in capsys.readouterr().out


def test_stop_also_stops_daemons_started_one_per_process(tmp_path):
    """A cluster started before the daemons were grouped (``object-replicator-1.pid``)."""
    aio = AllInOne(str(tmp_path), nodes=1, replicas=1, port_base=9600)
    lay = aio.layout
    marker_argv = [sys.executable, "-c", "import time; time.sleep(60)", lay.root]
    pid = processes.start_process("object-replicator-1", marker_argv, lay.run, lay.log,
                                  marker=lay.root)
    assert processes.group_alive(pid)
    # Once in a CI run, stop() found no such process running (cause not found: the
    # process was alive just before). Say what became of it if that happens again.
    running = processes.read_pid(lay.run, "object-replicator-1", lay.root)
    if running != pid:
        with open(os.path.join(lay.log, "object-replicator-1.log"), errors="replace") as log:
            output = log.read()
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read()
        except OSError as err:
            state = str(err)
        pytest.fail(f"the started process is not seen running: read_pid={running}, "
                    f"/proc/{pid}/stat: {state!r}, its output: {output!r}")
    assert "object-replicator-1" in aio.stop()
    wait_for(lambda: not processes.group_alive(pid), what="the legacy daemon to stop")
