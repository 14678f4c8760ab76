"""Strict parsing of source URLs, before anything is resolved or connected."""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import pytest

from enlarger.errors import InvalidSourceError, SourceForbiddenError
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.security.fetch import Fetcher, checked_url, origin_matcher
from tests.live import Origin, serve
from tests.resolver import record_connects, stub_dns


@pytest.mark.parametrize(
    ("url", "folded", "host"),
    [
        ("http://ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ/a.jpg?x=1", "http://example.com/a.jpg?x=1", "example.com"),
        ("https://ｅｘａｍｐｌｅ。ｃｏｍ:8443/a.jpg", "https://example.com:8443/a.jpg", "example.com"),
        ("http://①②⑦.⓪.⓪.②:81/a", "http://127.0.0.2:81/a", "127.0.0.2"),
        ("http://bücher.example/a", "http://xn--bcher-kva.example/a", "xn--bcher-kva.example"),
    ],
)
def test_unicode_hosts_fold_to_their_ascii_name(url: str, folded: str, host: str) -> None:
    assert checked_url(url)[0] == folded
    assert checked_url(url)[1].hostname == host


@pytest.mark.parametrize(
    "url",
    [
        "http://Example.com/A%20b.jpg",
        "https://[::1]:8080/a",
        "http://under_score.internal/a.jpg#frag",
        "http://2130706433/a.jpg",  # numeric IPv4 forms stay hosts: the address policy judges them
        "http://0x7f.0.0.1/a.jpg",
        "http://1.2.3.4.example/a.jpg",
        "http://xn--bcher-kva.example/a.jpg",
    ],
)
def test_ascii_urls_are_kept_as_written(url: str) -> None:
    assert checked_url(url)[0] == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://1.1.1.1 &@2.2.2.2# @3.3.3.3/", "spaces"),
        ("http://evil.example\\@good.example/", "backslashes"),
        ("http://a.example/\x85", "control characters"),
        ("http://a.example\u3000/a", "spaces"),
        ("http://user:pass@127.0.0.2/a.jpg", "credentials"),
        ("http://a.example:99999/a", "malformed"),
        ("http://[::1/a", "malformed"),
        ("ftp://a.example/a", "http(s)"),
        ("http:///a.jpg", "http(s)"),
        ("http://☃.com/a.jpg", "not a valid host name"),
        ("http://xn--zz.com/a", "not a valid host name"),
        ("http://ⓐ..com/a", "not a valid host name"),
        ("http://example.com＃@127.0.0.2/a.jpg", "malformed"),
        # issue 24, finding 13: these were looked up as names (523)
        ("http://exa%20mple.com/a.jpg", "not a valid host name"),
        ("http://%31%32%37.0.0.1/a.jpg", "not a valid host name"),  # WHATWG parsers decode it to 127.0.0.1
        ("http://425.510.425.510/a.jpg", "not a valid host name"),
        ("http://１.２.３.４５６/a.jpg", "not a valid host name"),  # folds to 1.2.3.456
        ("http://a.0x10/a.jpg", "not a valid host name"),  # ends in a (hex) number: must be IPv4
        ("http://exa*mple.com/a.jpg", "not a valid host name"),
    ],
)
def test_malformed_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(InvalidSourceError) as caught:
        checked_url(url)
    assert caught.value.status == 400
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        (("example.com",), "https://example.com/a.jpg", True),
        (("example.com",), "https://EXAMPLE.com./a.jpg", True),
        (("example.com",), "https://img.example.com/a.jpg", False),  # no subdomains
        (("*.example.com",), "https://example.com/a.jpg", True),  # the root too
        (("*.example.com",), "https://a.b.example.com/a.jpg", True),
        (("*.example.com",), "https://badexample.com/a.jpg", False),
        (("example.com/images",), "https://example.com/images/a.jpg", True),
        (("example.com/images/",), "https://example.com/images", True),
        (("example.com/images",), "https://example.com/imagesx/a.jpg", False),
        (("example.com/images",), "https://example.com/a.jpg", False),
        (("https://example.com/images",), "http://example.com/images/a.jpg", True),
        (("ⓔⓧⓐⓜⓟⓛⓔ.com",), "https://example.com/a.jpg", False),  # entries are written in ASCII
        ((), "https://example.com/a.jpg", False),
    ],
)
def test_allowed_hosts_entries_are_domains_with_an_optional_path_prefix(
    entries: tuple[str, ...], url: str, allowed: bool
) -> None:
    """Cloudflare, transform-images/sources.mdx: ``example.com`` excludes subdomains, ``*.example.com``
    covers the root and every subdomain, and an entry may carry a path prefix."""
    assert origin_matcher(entries)(url) is allowed


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the fetcher opens a connection to (none of these tests' canaries accept one)."""
    return record_connects(monkeypatch)


def _fetcher(allowed: Iterable[str] = ()) -> Fetcher:
    guard = AddressGuard(parse_networks(allowed))
    return Fetcher(guard, connect_timeout=2, total_timeout=5, max_redirects=3, max_bytes=1 << 20)


CANARIES = ["192.0.0.192", "192.88.99.1", "fec0::1", "64:ff9b::c000:c0", "2002:c000:c0::1", "::ffff:192.0.0.192"]


@pytest.mark.parametrize("canary", CANARIES)
def test_a_name_answering_a_special_purpose_address_is_refused_at_connect_time(
    monkeypatch: pytest.MonkeyPatch, connects: list[str], canary: str
) -> None:
    """CVE-2024-4032 drift: on some interpreters these count as global; the policy refuses them."""

    async def fetch() -> None:
        fetcher = _fetcher()
        try:
            await fetcher.fetch("http://metadata.canary.test/latest/user-data/")
        finally:
            await fetcher.aclose()

    with stub_dns(monkeypatch) as dns:
        dns.answers["metadata.canary.test"] = [canary]
        with pytest.raises(SourceForbiddenError, match="internal"):
            anyio.run(fetch)
        assert dns.asked == ["metadata.canary.test"]
    assert connects == []


@pytest.mark.parametrize("canary", CANARIES)
def test_a_redirect_to_a_special_purpose_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, connects: list[str], canary: str
) -> None:
    origin = Origin()
    origin.redirects["/a.jpg"] = "http://metadata.canary.test/latest/user-data/"

    async def fetch(base: str) -> None:
        fetcher = _fetcher(["127.0.0.2/32"])
        try:
            await fetcher.fetch(f"{base}/a.jpg")
        finally:
            await fetcher.aclose()

    with stub_dns(monkeypatch) as dns, serve(origin.app(), host="127.0.0.2") as base:
        dns.answers["metadata.canary.test"] = [canary]
        with pytest.raises(SourceForbiddenError, match="internal"):
            anyio.run(fetch, base)
    assert connects == ["127.0.0.2"]  # the origin only
