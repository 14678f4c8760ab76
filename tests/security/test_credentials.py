"""Where a stored secret may go: under a destination the operator listed, nowhere else."""

from __future__ import annotations

import pytest

from enlarger.security.credentials import belongs_to

LISTED = ("https://api.cloudflare.com/client/v4", "http://images.internal:8080/")


@pytest.mark.parametrize(
    ("url", "belongs"),
    [
        ("https://api.cloudflare.com/client/v4", True),
        ("https://API.cloudflare.com./client/v4/accounts/x/images", True),
        ("https://api.cloudflare.com:443/client/v4", True),
        ("http://images.internal:8080/client/v4", True),
        ("https://api.cloudflare.com/client/v4x", False),  # not at a path boundary
        ("https://api.cloudflare.com/client", False),  # above the listed path
        ("http://api.cloudflare.com/client/v4", False),  # another scheme
        ("https://api.cloudflare.com:8443/client/v4", False),  # another port
        ("https://api.cloudflare.com.attacker.example/client/v4", False),
        ("https://attacker.example/client/v4", False),
        ("http://images.internal/client/v4", False),  # port 80, not 8080
        ("http://[::1/x", False),  # malformed: never a destination
    ],
)
def test_a_url_belongs_only_under_a_listed_destination(url: str, belongs: bool) -> None:
    assert belongs_to(url, LISTED) is belongs


def test_nothing_belongs_when_nothing_is_listed() -> None:
    assert not belongs_to("https://api.cloudflare.com/client/v4", ())
