"""Which network addresses a remote fetch may connect to (SSRF defence).

The check runs on the addresses a name actually resolves to, at connect time, and the
connection goes to the very address that was checked: a DNS answer cannot change between
the check and the connect (no rebinding), and every redirect hop is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import anyio

from enlarger.errors import OriginError, SourceForbiddenError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: cloud metadata services that are not covered by the generic internal ranges
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"),)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The configured exceptions; a malformed entry is a configuration error, reported at start."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _plain(address: IPAddress) -> IPAddress:
    """IPv4-mapped and IPv4-compatible IPv6 addresses are the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, unspecified, reserved or shared."""
    plain = _plain(address)
    return (
        not plain.is_global
        or plain.is_multicast
        or plain.is_loopback
        or plain.is_link_local
        or plain.is_unspecified
        or plain.is_reserved
        or any(plain in net for net in _METADATA)
    )


class AddressGuard:
    """Resolves host names and refuses internal addresses unless they are explicitly allowed."""

    def __init__(self, allowed_networks: Iterable[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed_networks)

    def permitted(self, address: IPAddress) -> bool:
        plain = _plain(address)
        return not is_internal(plain) or any(plain in net or address in net for net in self._allowed)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, all checked; refuses the host if any address is internal."""
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise OriginError(f"the source host {host} could not be resolved", code=9407, status=523) from exc
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        refused = [a for a in addresses if not self.permitted(a)]
        if refused or not addresses:
            raise SourceForbiddenError(
                f"the source host {host} resolves to an internal address ({refused[0] if refused else 'none'}); "
                "fetching from internal networks is not allowed"
            )
        return [str(a) for a in dict.fromkeys(addresses)]
