"""Which network addresses the server may connect to (SSRF defence): the address policy.

The verdict comes from the IANA special-purpose registries, kept as data in
:mod:`enlarger.security.special_purpose`, never from the interpreter's ``ipaddress.is_global``
(whose tables differ between patch releases, CVE-2024-4032). An address is reachable when the
most specific registry block holding it is "globally reachable" (a block without the attribute,
such as the terminated ``192.88.99.0/24`` or the umbrella ``192.0.0.0/24``, is not), it is not
multicast, and — IPv6 — it lies in ``2000::/3``, the only global unicast space IANA allocates
(``fec0::/10`` site-local and ``::/96`` IPv4-compatible addresses are outside it). Stricter than
the registry: the local anycast services (PCP, TURN, DNS-SD SRP) are refused, because their
nearest instance is typically the network's own gateway.

IPv6 forms that carry an IPv4 address: an IPv4-mapped address (``::ffff:a.b.c.d``) is the IPv4
address it carries (a dual-stack socket connects to that very address), and so is one in the
well-known NAT64 prefix (``64:ff9b::/96``: on a DNS64 network every IPv4 destination looks like
that, and the translator connects to the address it carries). 6to4 (``2002::/16``) and Teredo
(``2001::/32``) have no reachability of their own in the registry — they reach whatever IPv4
address they embed through a relay — and are refused outright.

The check runs on the addresses a name actually resolves to, at connect time, and the
connection goes to the very address that was checked: a DNS answer cannot change between the
check and the connect (no rebinding). The operator may open exceptions (``fetch_allowed_networks``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import anyio

from enlarger.errors import OriginError, SourceForbiddenError
from enlarger.security.special_purpose import IPV4, IPV6, Block

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_IPV4_MULTICAST = ipaddress.ip_network("224.0.0.0/4")  # IANA IPv4 Address Space: "Multicast"
_IPV6_MULTICAST = ipaddress.ip_network("ff00::/8")  # IANA IPv6 Address Space: "Multicast"
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # IANA IPv6 Address Space: "Global Unicast"
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: globally reachable in the registry, but answered by the nearest instance: usually the local gateway
_LOCAL_ANYCAST = frozenset(
    ipaddress.ip_address(a) for a in ("192.0.0.9", "192.0.0.10", "2001:1::1", "2001:1::2", "2001:1::3")
)


@dataclass(frozen=True)
class Verdict:
    """Whether the policy lets a connection go to an address, and the rule that decided."""

    reachable: bool
    reason: str


def _block(address: IPAddress) -> Block | None:
    """The most specific registry row holding ``address``."""
    rows = IPV4 if isinstance(address, ipaddress.IPv4Address) else IPV6
    found = [row for row in rows if address in row.network]
    return max(found, key=lambda row: row.network.prefixlen, default=None)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 (``64:ff9b::/96``) address connects to."""
    if isinstance(address, ipaddress.IPv6Address) and (address in _IPV4_MAPPED or address in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def verdict(address: IPAddress) -> Verdict:
    """The address policy's answer for one address (see the module's docstring)."""
    carried = embedded_ipv4(address)
    if carried is not None:
        inner = verdict(carried)
        return Verdict(inner.reachable, f"{address} carries {carried}: {inner.reason}")
    if address in _LOCAL_ANYCAST:
        return Verdict(False, f"{address} is a local anycast service address")
    block = _block(address)
    if block is not None:
        if block.globally_reachable is None:
            return Verdict(False, f"{block.network} ({block.name}, {block.rfc}) has no global reachability")
        reach = "globally reachable" if block.globally_reachable else "not globally reachable"
        return Verdict(block.globally_reachable, f"{block.network} ({block.name}, {block.rfc}) is {reach}")
    if address in _IPV4_MULTICAST or address in _IPV6_MULTICAST:
        return Verdict(False, f"{address} is a multicast address")
    if isinstance(address, ipaddress.IPv6Address) and address not in _IPV6_GLOBAL_UNICAST:
        return Verdict(False, f"{address} is outside the global unicast space 2000::/3")
    return Verdict(True, f"{address} is in no special-purpose block")


def is_internal(address: IPAddress) -> bool:
    """Whether the policy refuses ``address`` (internal, special-purpose, multicast, reserved)."""
    return not verdict(address).reachable


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The configured exceptions; a malformed entry is a configuration error, reported at start."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def lookup(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (blocking; the one place the server asks DNS for a peer)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class AddressGuard:
    """Resolves host names and refuses addresses the policy refuses unless they are explicitly allowed."""

    def __init__(self, allowed_networks: Iterable[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed_networks)

    def permitted(self, address: IPAddress) -> bool:
        carried = embedded_ipv4(address)
        candidates = (address,) if carried is None else (address, carried)
        return not is_internal(address) or any(a in net for a in candidates for net in self._allowed)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, all checked; refuses the host if any address is refused."""
        literal = _literal(host)
        if literal is not None:
            return self._checked(host, [literal])
        try:
            found = await anyio.to_thread.run_sync(lookup, host, port)
        except (OSError, UnicodeError) as exc:
            raise _unresolved(host) from exc
        return self._checked(host, found)

    def resolve_blocking(self, host: str, port: int) -> list[str]:
        """:meth:`resolve` for code that runs in a worker thread (boto3's connections)."""
        literal = _literal(host)
        if literal is not None:
            return self._checked(host, [literal])
        try:
            found = lookup(host, port)
        except (OSError, UnicodeError) as exc:
            raise _unresolved(host) from exc
        return self._checked(host, found)

    def _checked(self, host: str, found: list[str]) -> list[str]:
        addresses = [ipaddress.ip_address(str(a).split("%", 1)[0]) for a in found]
        refused = [a for a in addresses if not self.permitted(a)]
        if refused or not addresses:
            why = verdict(refused[0]).reason if refused else "no address"
            raise SourceForbiddenError(
                f"the source host {host} resolves to an internal address ({why}); "
                "fetching from internal networks is not allowed"
            )
        return [str(a) for a in dict.fromkeys(addresses)]


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def _unresolved(host: str) -> OriginError:
    return OriginError(f"the source host {host} could not be resolved", code=9407, status=523)
