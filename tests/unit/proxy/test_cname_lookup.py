"""cname_lookup against a real DNS server on 127.0.0.1 (a small dnspython responder on
a UDP socket: no outside DNS), in front of the real domain_remap filter."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from oiofs.proxy.middleware.cname_lookup import CnameLookup, split_host
from oiofs.proxy.middleware.domain_remap import DomainRemap

RECORDS = {"www.customer.org.": "c.auth-test.example.com.",
           "hop1.customer.org.": "hop2.customer.org.",
           "hop2.customer.org.": "site.auth-test.example.com.",
           "elsewhere.org.": "other.net."}


class DnsServer:
    """Answers CNAME queries from RECORDS (NXDOMAIN otherwise); counts queries."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                wire, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            name = query.question[0].name.to_text()
            self.queries.append(name)
            reply = dns.message.make_response(query)
            target = RECORDS.get(name)
            if target and query.question[0].rdtype == dns.rdatatype.CNAME:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), addr)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def dns_server():
    server = DnsServer()
    yield server
    server.close()


def pipeline(dns_server, depth=1):
    seen = {}

    def app(environ, start_response):
        seen.update(host=environ.get("HTTP_HOST"), path=environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b""]

    remap = DomainRemap(app, {"storage_domain": "example.com"})
    lookup = CnameLookup(remap, {"storage_domain": "example.com", "lookup_depth": str(depth),
                                 "nameservers": f"127.0.0.1:{dns_server.port}"})

    def call(host, path="/o"):
        seen.clear()
        lookup({"HTTP_HOST": host, "PATH_INFO": path, "REQUEST_METHOD": "GET"},
               lambda status, headers: None)
        return seen["host"], seen["path"]

    return call, lookup


def test_cname_to_a_container_host(dns_server):
    call, _ = pipeline(dns_server)
    assert call("www.customer.org:8080", "/index.html") == \
        ("c.auth-test.example.com:8080", "/v1/AUTH_test/c/index.html")


def test_depth_and_misses(dns_server):
    call, _ = pipeline(dns_server, depth=1)
    assert call("hop1.customer.org") == ("hop1.customer.org", "/o")  # one hop short
    call2, _ = pipeline(dns_server, depth=2)
    assert call2("hop1.customer.org")[1] == "/v1/AUTH_test/site/o"
    assert call("elsewhere.org", "/v1/AUTH_x/c") == ("elsewhere.org", "/v1/AUTH_x/c")
    assert call("nothing.org", "/v1/AUTH_x/c") == ("nothing.org", "/v1/AUTH_x/c")


def test_no_lookup_for_ips_storage_hosts_and_cached_names(dns_server):
    call, _ = pipeline(dns_server)
    before = len(dns_server.queries)
    call("127.0.0.1:8080", "/v1/AUTH_x")
    call("[::1]:8080", "/v1/AUTH_x")
    call("c.auth-test.example.com", "/o")
    call("localhost", "/v1/AUTH_x")
    assert len(dns_server.queries) == before
    call("www.customer.org")
    call("www.customer.org")
    assert dns_server.queries[before:] == ["www.customer.org."]


def test_split_host():
    assert split_host("a.org:x") == ("a.org:x", "")
