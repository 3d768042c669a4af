"""oiofs-ring-builder and oiofs-get-nodes, driven like an operator would."""

import os
import subprocess
import sys

import pytest

from oiofs.cli import ring_builder
from oiofs.common.ring import Ring, RingBuilder
from tests.support.servers import write_cluster_conf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def run(module, *args, env=None):
    """Run ``python -m <module> args`` and return (status, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                            text=True, timeout=120, env=env)
    return result.returncode, result.stdout, result.stderr


def builder_cli(*args):
    return run("oiofs.cli.ring_builder", *args)


def call(capsys, *args):
    """Run the ring builder in-process (fast) and return (status, stdout, stderr)."""
    status = ring_builder.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_operator_flow(tmp_path):
    builder = str(tmp_path / "object.builder")
    ring_file = str(tmp_path / "object.ring.gz")
    assert builder_cli(builder, "create", "8", "3", "1")[0] == 0
    status, out, _ = builder_cli(builder, "add", "r1z1-127.0.0.1:6010/sda", "100",
                                 "r1z2-127.0.0.1:6020/sdb", "100",
                                 "r1z3-127.0.0.1:6030/sdc_ssd", "100")
    assert status == 0 and out.count("added with id") == 3
    status, out, _ = builder_cli(builder, "add", "--region", "1", "--zone", "4", "--ip",
                                 "127.0.0.1", "--port", "6040", "--device", "sdd",
                                 "--weight", "50")
    assert status == 0 and "id 3" in out

    status, out, _ = builder_cli(builder)
    assert status == 0
    assert "256 partitions, 3 replicas, 1 regions, 4 zones, 4 devices, not rebalanced" in out
    assert "object.ring.gz not found" in out
    table = out.split("Devices:\n", 1)[1]
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [row[0] for row in rows] == ["0", "1", "2", "3"]
    assert rows[2][5] == "sdc" and rows[2][-1] == "ssd" and rows[3][6] == "50.00"

    status, out, _ = builder_cli(builder, "rebalance", "--seed", "1")
    assert status == 0, out
    assert "Reassigned 256 (100.00%) partitions" in out
    ring = Ring(ring_file)
    assert ring.replica_count == 3 and len(ring.devs) == 4
    with open(ring_file, "rb") as handle:
        first_bytes = handle.read()

    status, out, _ = builder_cli(builder, "rebalance", "--seed", "2")
    assert status == 1 and "No partitions could be reassigned" in out
    assert "may move again in 0:59" in out or "may move again in 1:00" in out

    status, out, _ = builder_cli(builder)
    assert "is up-to-date" in out and "0.00 dispersion" in out
    assert builder_cli(builder, "validate")[0] == 0
    os.unlink(ring_file)
    assert builder_cli(builder, "write_ring")[0] == 0
    with open(ring_file, "rb") as handle:
        assert handle.read() == first_bytes  # same content, same bytes

    assert builder_cli(builder, "set_weight", "d3", "100")[0] == 0
    assert "is obsolete" in builder_cli(builder)[1]  # the ring file is not rewritten yet
    status, out, _ = builder_cli(builder, "rebalance")
    # min_part_hours holds every partition: the devices are saved, balance is off.
    assert status == 1 and "Reassigned 0 " in out and "balance is" in out
    assert builder_cli(builder, "pretend_min_part_hours_passed")[0] == 0
    status, out, _ = builder_cli(builder, "rebalance")
    assert status == 0 and "Balance is now 0." in out

    assert builder_cli(builder, "remove", "/sdb")[0] == 0
    status, out, _ = builder_cli(builder)
    assert " DEL" in out
    status, out, _ = builder_cli(builder, "rebalance")
    assert status == 0 and "Removed device d1r1z2-127.0.0.1:6020/sdb" in out
    assert len([d for d in Ring(ring_file).devs if d]) == 3
    assert builder_cli(builder, "dispersion")[0] == 0


def test_bin_wrappers_run_from_the_checkout(tmp_path):
    builder = str(tmp_path / "account.builder")
    for script, args in (("oiofs-ring-builder", [builder, "create", "4", "1", "0"]),
                         ("oiofs-get-nodes", ["--help"])):
        path = os.path.join(REPO, "bin", script)
        assert os.access(path, os.X_OK)
        result = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert os.path.exists(builder)


def test_errors_exit_2_through_a_real_process(tmp_path):
    builder = str(tmp_path / "x.builder")
    status, _, err = builder_cli(builder)
    assert status == 2 and "does not exist" in err
    status, _, err = builder_cli(builder, "fly")
    assert status == 2 and "unknown verb" in err
    assert builder_cli()[0] == 2


@pytest.fixture
def built(tmp_path, capsys):
    builder = str(tmp_path / "container.builder")
    assert call(capsys, builder, "create", 6, 2, 0)[0] == 0
    assert call(capsys, builder, "add", "r1z1-10.0.0.1:6201/sda", 1, "r1z1-10.0.0.1:6201/sdb",
                1, "r1z2-10.0.0.2:6201/sda", 1)[0] == 0
    return builder


@pytest.mark.parametrize("args, message", [
    (["create", 6, 2, 0], "already exists"),
    (["add", "r1z1-10.0.0.1/sda", 1], "expected r<region>z<zone>"),
    (["add", "r1z9-10.0.0.9:6201/sdq", "heavy"], "invalid weight"),
    (["add", "r1z9-10.0.0.9:6201/sdq", "-1"], "invalid weight"),
    (["add", "r1z9-10.0.0.9:6201/sdq"], "pairs"),
    (["add", "r1z1-10.0.0.1:6201/sda", 1], "already uses"),
    (["add", "--zone", "1", "--ip", "10.0.0.9"], "required"),
    (["add", "r1z9-10.0.0.9:0/sdq", 1], "port"),
    (["remove", "z1"], "matches 2 devices"),
    (["remove", "z7"], "no device matches"),
    (["remove", "q"], "invalid search value"),
    (["set_weight", "d0"], "pairs"),
    (["set_weight", "d0", "x"], "invalid weight"),
    (["rebalance", "--seed", "x"], "invalid int"),
    (["write_ring"], "never rebalanced"),
    (["validate"], "never rebalanced"),
    (["set_replicas", "0"], "replicas"),
    (["create"], "create <part_power>"),
])
def test_bad_input_is_an_error(built, capsys, args, message):
    status, out, err = call(capsys, built, *args)
    assert status == 2, (out, err)
    assert message in err and err.startswith("Error: ")


def test_bad_create_parameters(tmp_path, capsys):
    for args, message in (([40, 3, 1], "part_power"), ([8, "x", 1], "invalid replicas"),
                          ([8, 3, -1], "min_part_hours")):
        status, _, err = call(capsys, str(tmp_path / "n.builder"), "create", *args)
        assert status == 2 and message in err
    assert not os.path.exists(tmp_path / "n.builder")


def test_several_matches_need_yes(built, capsys):
    status, out, _ = call(capsys, built, "set_weight", "z1", 3, "--yes")
    assert status == 0 and out.count("-> 3") == 2
    status, _, _ = call(capsys, built, "remove", "z1", "--yes")
    assert status == 0
    loaded = RingBuilder.load(built)
    assert loaded.is_removing(0) and loaded.is_removing(1)


def test_rebalance_without_weight_is_an_error(built, capsys):
    call(capsys, built, "set_weight", "r1", 0, "--yes")
    status, _, err = call(capsys, built, "rebalance")
    assert status == 2 and "weight above 0" in err


def test_too_few_devices_is_a_warning(tmp_path, capsys):
    builder = str(tmp_path / "object.builder")
    call(capsys, builder, "create", 4, 3, 0)
    call(capsys, builder, "add", "r1z1-10.0.0.1:6200/sda", 1, "r1z2-10.0.0.2:6200/sda", 1)
    status, out, _ = call(capsys, builder, "rebalance")
    assert status == 1 and "Warning: 3 replicas but only 2 devices" in out
    assert os.path.exists(tmp_path / "object.ring.gz")


def test_search_set_min_part_hours_and_set_replicas(built, capsys):
    status, out, _ = call(capsys, built, "search", "z1")
    assert status == 0 and out.count("10.0.0.1:6201") == 4  # two rows, two columns
    assert call(capsys, built, "search", "z5")[0] == 1
    assert call(capsys, built, "set_min_part_hours", 5)[0] == 0
    assert call(capsys, built, "set_replicas", 3)[0] == 0
    loaded = RingBuilder.load(built)
    assert loaded.min_part_hours == 5 and loaded.replicas == 3


# --- oiofs-get-nodes ----------------------------------------------------------------


@pytest.fixture
def object_ring(tmp_path, capsys):
    etc = tmp_path / "etc"
    write_cluster_conf(str(etc))  # the same test secret as this process uses
    builder = str(etc / "object.builder")
    call(capsys, builder, "create", 6, 2, 0)
    for zone in range(1, 5):
        call(capsys, builder, "add", f"r1z{zone}-127.0.0.1:60{zone}0/sd{zone}", 1)
    assert call(capsys, builder, "rebalance", "--seed", 3)[0] == 0
    return str(etc / "object.ring.gz")


def _env_without_oiofs_dir():
    env = dict(os.environ)
    env.pop("OIOFS_DIR", None)
    return env


def test_get_nodes_prints_partition_nodes_and_curl_lines(object_ring):
    status, out, err = run("oiofs.cli.get_nodes", object_ring, "AUTH_t", "c", "o/1",
                           env=_env_without_oiofs_dir())
    assert status == 0, err
    ring = Ring(object_ring)
    part, nodes = ring.get_nodes("AUTH_t", "c", "o/1")
    assert f"Partition   {part}\n" in out
    handoffs = list(ring.get_more_nodes(part))[:2]
    for node in nodes:
        assert (f'curl -g -I -XHEAD "http://127.0.0.1:{node["port"]}/{node["device"]}/'
                f'{part}/AUTH_t/c/o/1"\n') in out
    for node in handoffs:
        assert (f"Server:Port Device  127.0.0.1:{node['port']} {node['device']}  "
                "[Handoff]") in out
    assert out.count("[Handoff]") == 6  # two handoffs: server line, curl, ssh
    assert "/objects/" in out


def test_get_nodes_for_a_partition(object_ring):
    status, out, _ = run("oiofs.cli.get_nodes", "-p", "7", object_ring)
    assert status == 0 and "Partition   7" in out and "Hash" not in out
    status, _, err = run("oiofs.cli.get_nodes", "-p", "64", object_ring)
    assert status == 2 and "not in 0..63" in err


def test_get_nodes_errors(tmp_path, object_ring):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run("oiofs.cli.get_nodes", "--oiofs-dir", str(empty), object_ring, "a")
    assert status == 2 and "hash secret" in err
    status, _, err = run("oiofs.cli.get_nodes", str(tmp_path / "none.ring.gz"), "a")
    assert status == 2 and "cannot read ring" in err
    status, _, err = run("oiofs.cli.get_nodes", object_ring, "a", "c", "o", "extra")
    assert status == 2


def _write_server_conf(path, port, devices):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
                     f"devices = {devices}\n\n[pipeline:main]\npipeline = object-server\n")


def test_get_nodes_shows_each_node_real_devices_path(object_ring, tmp_path):
    etc = os.path.dirname(object_ring)
    for zone in range(1, 5):  # as an all-in-one keeps them: etc/node<N>/object-server.conf
        _write_server_conf(os.path.join(etc, f"node{zone}", "object-server.conf"),
                           6000 + 10 * zone, str(tmp_path / "data" / f"node{zone}"))
    status, out, err = run("oiofs.cli.get_nodes", object_ring, "AUTH_t/c/o/1",
                           env=_env_without_oiofs_dir())
    assert status == 0, err
    ring = Ring(object_ring)
    part, nodes = ring.get_nodes("AUTH_t", "c", "o/1")
    digest = [line.split()[1] for line in out.splitlines() if line.startswith("Hash")][0]
    assert "/srv/node" not in out
    for node in nodes:
        zone = node["port"] // 10 % 100
        where = (f"{tmp_path}/data/node{zone}/{node['device']}/objects/{part}/"
                 f"{digest[-3:]}/{digest}")
        assert f'ssh 127.0.0.1 "ls -lah {where}"\n' in out
    # the one-argument form names the same object as three arguments
    assert "Container   c\nObject      o/1\n" in out

    status, out, _ = run("oiofs.cli.get_nodes", "--devices", "/mnt/disks", object_ring,
                         "AUTH_t", env=_env_without_oiofs_dir())
    assert status == 0 and out.count('"ls -lah /mnt/disks/') == 4  # 2 primaries, 2 handoffs


def test_get_nodes_one_argument_errors(object_ring):
    status, _, err = run("oiofs.cli.get_nodes", object_ring, "AUTH_t//o")
    assert status == 2 and "empty" in err


def test_get_nodes_piped_to_a_closed_reader_ends_quietly(object_ring):
    # ``| head`` that has already exited: every write meets a closed pipe
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "oiofs.cli.get_nodes", object_ring,
                                 "AUTH_t/c/o"], stdout=write_end, stderr=subprocess.PIPE,
                                env=_env_without_oiofs_dir())
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err
