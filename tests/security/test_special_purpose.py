"""Every IANA special-purpose block, address by address: the policy's verdict on its first, a
middle and its last address. The expectations are written out by hand from the registries (not
computed from the table under test), so a wrong row, a wrong column or a wrong rule fails here."""

from __future__ import annotations

import ipaddress

import pytest

from enlarger.security.addresses import verdict
from enlarger.security.special_purpose import IPV4, IPV6

Y, N = True, False  # reachable, refused

#: (block, first, middle, last) — what the policy must answer for each, from the registries
EXPECTED: list[tuple[str, bool, bool, bool]] = [
    ("0.0.0.0/8", N, N, N),
    ("0.0.0.0/32", N, N, N),
    ("10.0.0.0/8", N, N, N),
    ("100.64.0.0/10", N, N, N),
    ("127.0.0.0/8", N, N, N),
    ("169.254.0.0/16", N, N, N),
    ("172.16.0.0/12", N, N, N),
    ("192.0.0.0/24", N, N, N),  # N/A: only its more specific rows are usable; 192.0.0.192 is not
    ("192.0.0.0/29", N, N, N),
    ("192.0.0.8/32", N, N, N),
    ("192.0.0.9/32", N, N, N),  # PCP anycast: globally reachable, refused as a local anycast service
    ("192.0.0.10/32", N, N, N),  # TURN anycast: likewise
    ("192.0.0.170/32", N, N, N),
    ("192.0.0.171/32", N, N, N),
    ("192.0.2.0/24", N, N, N),
    ("192.31.196.0/24", Y, Y, Y),
    ("192.52.193.0/24", Y, Y, Y),
    ("192.88.99.0/24", N, N, N),  # terminated (RFC 7526): no reachability
    ("192.88.99.2/32", N, N, N),
    ("192.168.0.0/16", N, N, N),
    ("192.175.48.0/24", Y, Y, Y),
    ("198.18.0.0/15", N, N, N),
    ("198.51.100.0/24", N, N, N),
    ("203.0.113.0/24", N, N, N),
    ("240.0.0.0/4", N, N, N),
    ("255.255.255.255/32", N, N, N),
    ("::1/128", N, N, N),
    ("::/128", N, N, N),
    ("::ffff:0:0/96", N, Y, N),  # the IPv4 it carries: 0.0.0.0, 128.0.0.0, 255.255.255.255
    ("64:ff9b::/96", N, Y, N),  # NAT64: likewise
    ("64:ff9b:1::/48", N, N, N),
    ("100::/64", N, N, N),
    ("100:0:0:1::/64", N, N, N),
    ("2001::/23", N, N, N),
    ("2001::/32", N, N, N),  # Teredo: N/A, refused outright
    ("2001:1::1/128", N, N, N),  # PCP anycast
    ("2001:1::2/128", N, N, N),  # TURN anycast
    ("2001:1::3/128", N, N, N),  # DNS-SD SRP anycast
    ("2001:2::/48", N, N, N),
    ("2001:3::/32", Y, Y, Y),
    ("2001:4:112::/48", Y, Y, Y),
    ("2001:10::/28", N, N, N),
    ("2001:20::/28", Y, Y, Y),
    ("2001:30::/28", Y, Y, Y),
    ("2001:db8::/32", N, N, N),
    ("2002::/16", N, N, N),  # 6to4: N/A, refused outright
    ("2620:4f:8000::/48", Y, Y, Y),
    ("3fff::/20", N, N, N),
    ("5f00::/16", N, N, N),
    ("fc00::/7", N, N, N),
    ("fe80::/10", N, N, N),
]


def test_the_table_holds_every_registry_block() -> None:
    assert [str(row.network) for row in IPV4 + IPV6] == [block for block, *_ in EXPECTED]


def _probes(cidr: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    network = ipaddress.ip_network(cidr)
    first = int(network.network_address)
    middle = first + (network.num_addresses // 2)
    return [network.network_address, ipaddress.ip_address(middle), network.broadcast_address]


@pytest.mark.parametrize(("block", "first", "middle", "last"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_every_block_first_middle_and_last(block: str, first: bool, middle: bool, last: bool) -> None:
    for address, expected in zip(_probes(block), (first, middle, last), strict=True):
        answer = verdict(address)
        assert answer.reachable is expected, f"{address}: {answer.reason}"
