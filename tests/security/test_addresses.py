"""Which addresses a fetch may reach."""

from __future__ import annotations

import ipaddress

import anyio
import pytest

from enlarger.errors import OriginError, SourceForbiddenError
from enlarger.security.addresses import AddressGuard, is_internal, parse_networks


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.100.100.200",
        "224.0.0.251",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "192.0.2.10",
        "198.18.0.1",
    ],
)
def test_internal_addresses(address: str) -> None:
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "151.101.1.1"])
def test_public_addresses(address: str) -> None:
    assert not is_internal(ipaddress.ip_address(address))


def test_allowed_networks_are_exceptions() -> None:
    guard = AddressGuard(parse_networks(["10.1.0.0/16", "127.0.0.2/32"]))
    assert guard.permitted(ipaddress.ip_address("10.1.2.3"))
    assert guard.permitted(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not guard.permitted(ipaddress.ip_address("10.2.0.1"))
    assert not guard.permitted(ipaddress.ip_address("127.0.0.1"))


def test_bad_networks_are_reported() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        parse_networks(["not-a-network"])


def test_resolution_checks_every_address() -> None:
    guard = AddressGuard()

    async def run() -> None:
        with pytest.raises(SourceForbiddenError, match="internal"):
            await guard.resolve("localhost", 80)
        with pytest.raises(SourceForbiddenError):
            await guard.resolve("2130706433", 80)  # decimal 127.0.0.1
        with pytest.raises(SourceForbiddenError):
            await guard.resolve("[::ffff:7f00:1]", 80)
        assert await guard.resolve("8.8.8.8", 80) == ["8.8.8.8"]
        with pytest.raises(OriginError, match="could not be resolved"):
            await guard.resolve("no-such-host.invalid", 80)

    anyio.run(run)


@pytest.mark.parametrize(
    "address",
    [
        "192.0.0.192",  # a cloud metadata service inside 192.0.0.0/24
        "192.0.0.255",
        "192.88.99.1",  # the deprecated 6to4 relay anycast
        "fec0::1",  # deprecated site-local (outside 2000::/3)
        "feff:ffff::1",
        "::10.0.0.1",  # IPv4-compatible (deprecated): refused whatever it carries
        "::8.8.8.8",
        "ff0e::1",  # global-scope multicast
        "224.0.0.1",
        "239.255.255.250",
        "4000::1",  # not allocated as global unicast
        "64:ff9b::192.0.0.192",  # NAT64 carrying an internal IPv4
        "64:ff9b::7f00:1",
        "::ffff:192.88.99.1",
        "2002:0808:0808::1",  # 6to4, even carrying a public IPv4
        "2002:c000:00c0::1",  # 6to4 carrying 192.0.0.192
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_the_addresses_the_interpreter_called_global_are_refused(address: str) -> None:
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["64:ff9b::8.8.8.8", "2a00:1450:4001:80b::200e", "9.9.9.9", "223.255.255.1"])
def test_public_addresses_and_their_nat64_form_are_reachable(address: str) -> None:
    assert not is_internal(ipaddress.ip_address(address))


def test_the_verdict_does_not_depend_on_the_interpreters_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ``ipaddress`` thinks is global (it differs between patch releases), the answer is the same."""
    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in ("is_global", "is_private", "is_reserved", "is_loopback", "is_link_local", "is_multicast"):
            monkeypatch.setattr(cls, name, property(lambda self: pytest.fail("the interpreter's table was used")))
    assert is_internal(ipaddress.ip_address("192.0.0.192"))
    assert not is_internal(ipaddress.ip_address("8.8.8.8"))
    assert is_internal(ipaddress.ip_address("fec0::1"))
