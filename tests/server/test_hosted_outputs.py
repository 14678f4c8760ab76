"""One answer per hosted-output question: the browser TTL and a variant's options."""

from __future__ import annotations

from datetime import UTC, datetime

from enlarger.catalog.store import Account, Variant
from enlarger.options import parse_options
from enlarger.server.hosted_outputs import auto_format, browser_ttl, variant_options


def _account(ttl: int | None) -> Account:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Account(id="a" * 32, hash="h", name="", flexible_variants=False, created=created, browser_ttl=ttl)


def test_browser_ttl_is_the_variants_then_the_accounts_then_the_default() -> None:
    plain = Variant("public", {"width": 10}, False, None)
    own = Variant("thumb", {"width": 10}, False, 3600)
    assert browser_ttl(_account(None), None, 172800) == 172800
    assert browser_ttl(_account(7200), None, 172800) == 7200
    assert browser_ttl(_account(7200), plain, 172800) == 7200
    assert browser_ttl(_account(7200), own, 172800) == 3600


def test_variant_options_follow_an_edit_of_the_stored_options() -> None:
    before = Variant("v", {"fit": "cover", "width": 100, "height": 50}, False, None)
    assert variant_options(before) == parse_options({"format": "auto", "fit": "cover", "width": 100, "height": 50})
    assert variant_options(before) is variant_options(Variant("v", dict(before.options), False, None))  # memoised
    after = Variant("v", {"fit": "cover", "width": 200, "height": 50}, False, None)
    assert variant_options(after).width == 200


def test_options_without_a_format_are_negotiated() -> None:
    assert auto_format(parse_options("width=10")).format == "auto"
    assert auto_format(parse_options("width=10,format=png")).format == "png"
