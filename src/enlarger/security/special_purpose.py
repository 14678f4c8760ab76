"""The IANA special-purpose address registries, as data owned by the project.

Why a table here and not ``ipaddress.is_global``: the interpreter's tables change between patch
releases (CVE-2024-4032: before 3.11.10/3.12.4, ``192.0.0.0/24``, ``192.88.99.0/24`` and
``fec0::/10`` counted as global), so which addresses a fetch may reach would depend on which
Python runs the server. These rows are the registries themselves; the policy built on them is
:mod:`enlarger.security.addresses`.

Sources, transcribed on 2026-12-06 (docs/security.md, "Address policy", says how to update):

- IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry/ (newest row: 192.88.99.2/32,
  6a44-relay anycast, RFC 6751, and 192.0.0.0/29 renamed "IPv4 Service Continuity Prefix")
- IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry/ (newest row: 100:0:0:1::/64,
  Dummy IPv6 Prefix, RFC 9780)

Each row keeps the registry's columns Source, Destination, Forwardable and Globally Reachable;
``None`` is the registry's "N/A" (a terminated or umbrella block: nothing in it is usable unless
a more specific row says so). Reserved-by-Protocol and the dates are left out: no decision uses them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

REGISTRIES_CHECKED = "2026-12-06"
IPV4_REGISTRY = "https://www.iana.org/assignments/iana-ipv4-special-registry/"
IPV6_REGISTRY = "https://www.iana.org/assignments/iana-ipv6-special-registry/"


@dataclass(frozen=True)
class Block:
    """One registry row."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    name: str
    rfc: str
    source: bool | None
    destination: bool | None
    forwardable: bool | None
    globally_reachable: bool | None


def _row(
    cidr: str, name: str, rfc: str, src: bool | None, dst: bool | None, fwd: bool | None, glob: bool | None
) -> Block:
    return Block(ipaddress.ip_network(cidr), name, rfc, src, dst, fwd, glob)


T, F, NA = True, False, None

#: IANA IPv4 Special-Purpose Address Registry (columns: source, destination, forwardable, global)
IPV4: tuple[Block, ...] = (
    _row("0.0.0.0/8", '"This network"', "RFC 791", T, F, F, F),
    _row("0.0.0.0/32", '"This host on this network"', "RFC 1122", T, F, F, F),
    _row("10.0.0.0/8", "Private-Use", "RFC 1918", T, T, T, F),
    _row("100.64.0.0/10", "Shared Address Space", "RFC 6598", T, T, T, F),
    _row("127.0.0.0/8", "Loopback", "RFC 1122", F, F, F, F),
    _row("169.254.0.0/16", "Link Local", "RFC 3927", T, T, F, F),
    _row("172.16.0.0/12", "Private-Use", "RFC 1918", T, T, T, F),
    _row("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", NA, NA, NA, NA),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", T, T, T, F),
    _row("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", T, F, F, F),
    _row("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", T, T, T, T),
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", T, T, T, T),
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", F, F, F, F),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", F, F, F, F),
    _row("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", F, F, F, F),
    _row("192.31.196.0/24", "AS112-v4", "RFC 7535", T, T, T, T),
    _row("192.52.193.0/24", "AMT", "RFC 7450", T, T, T, T),
    _row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", NA, NA, NA, NA),
    _row("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", T, T, T, F),
    _row("192.168.0.0/16", "Private-Use", "RFC 1918", T, T, T, F),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", T, T, T, T),
    _row("198.18.0.0/15", "Benchmarking", "RFC 2544", T, T, T, F),
    _row("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", F, F, F, F),
    _row("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", F, F, F, F),
    _row("240.0.0.0/4", "Reserved", "RFC 1112", F, F, F, F),
    _row("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919", F, T, F, F),
)

#: IANA IPv6 Special-Purpose Address Registry (columns: source, destination, forwardable, global)
IPV6: tuple[Block, ...] = (
    _row("::1/128", "Loopback Address", "RFC 4291", F, F, F, F),
    _row("::/128", "Unspecified Address", "RFC 4291", T, F, F, F),
    _row("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", F, F, F, F),
    _row("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", T, T, T, T),
    _row("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", T, T, T, F),
    _row("100::/64", "Discard-Only Address Block", "RFC 6666", T, T, T, F),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", T, F, F, F),
    _row("2001::/23", "IETF Protocol Assignments", "RFC 2928", NA, NA, NA, F),
    _row("2001::/32", "TEREDO", "RFC 4380, RFC 8190", T, T, T, NA),
    _row("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", T, T, T, T),
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", T, T, T, T),
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", T, T, T, T),
    _row("2001:2::/48", "Benchmarking", "RFC 5180", T, T, T, F),
    _row("2001:3::/32", "AMT", "RFC 7450", T, T, T, T),
    _row("2001:4:112::/48", "AS112-v6", "RFC 7535", T, T, T, T),
    _row("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", NA, NA, NA, NA),
    _row("2001:20::/28", "ORCHIDv2", "RFC 7343", T, T, T, T),
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", T, T, T, T),
    _row("2001:db8::/32", "Documentation", "RFC 3849", F, F, F, F),
    _row("2002::/16", "6to4", "RFC 3056", T, T, T, NA),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", T, T, T, T),
    _row("3fff::/20", "Documentation", "RFC 9637", F, F, F, F),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", T, T, T, F),
    _row("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", T, T, T, F),
    _row("fe80::/10", "Link-Local Unicast", "RFC 4291", T, T, F, F),
)
