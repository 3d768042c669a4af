"""Which ring devices are this server's: this machine's addresses and the server's port."""

from oiofs.common.local_devices import (
    is_local_device,
    local_devices,
    machine_ips,
    whataremyips,
)
from oiofs.common.ring import Ring, RingBuilder

# 192.0.2.0/24 is reserved for documentation: never an address of a test machine (and
# nothing ever connects to it here: it only sits in a ring)
FOREIGN_IP = "192.0.2.200"


def test_machine_ips_include_loopback():
    ips = machine_ips()
    assert "127.0.0.1" in ips
    assert FOREIGN_IP not in ips


def test_whataremyips_wildcard_and_specific():
    assert whataremyips("0.0.0.0") == machine_ips()
    assert whataremyips("") == machine_ips()
    assert whataremyips(None) == machine_ips()
    assert whataremyips("127.0.0.1") == {"127.0.0.1"}
    assert whataremyips("[::1]") == {"::1"}


def test_port_must_match():
    dev = {"device": "d1", "ip": "127.0.0.1", "port": 6010}
    assert is_local_device(dev, {"127.0.0.1"}, 6010)
    assert not is_local_device(dev, {"127.0.0.1"}, 6020)
    assert not is_local_device(dev, {"10.9.9.9"}, 6010)
    assert not is_local_device(None, {"127.0.0.1"}, 6010)


def test_replication_address_counts_too():
    dev = {"device": "d1", "ip": FOREIGN_IP, "port": 6010, "replication_ip": "127.0.0.1",
           "replication_port": 7010}
    assert is_local_device(dev, {"127.0.0.1"}, 7010)
    assert not is_local_device(dev, {"127.0.0.1"}, 6010)


def test_host_names_are_resolved():
    dev = {"device": "d1", "ip": "localhost", "port": 6010}
    assert is_local_device(dev, machine_ips(), 6010)


def test_local_devices_of_a_real_ring(tmp_path):
    builder = RingBuilder(4, 2, 0)
    for number, (ip, port) in enumerate([("127.0.0.1", 6010), ("127.0.0.1", 6020),
                                         ("127.0.0.1", 6010), (FOREIGN_IP, 6010)]):
        builder.add_dev({"region": 1, "zone": number + 1, "ip": ip, "port": port,
                         "device": f"d{number}", "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(str(tmp_path / "object.ring.gz"))
    ring = Ring(str(tmp_path), ring_name="object")
    mine = local_devices(ring, whataremyips("0.0.0.0"), 6010)
    assert [d["device"] for d in mine] == ["d0", "d2"]
    assert [d["device"] for d in local_devices(ring, whataremyips("127.0.0.1"), 6020)] == ["d1"]
    assert local_devices(ring, {"10.1.1.1"}, 6010) == []
