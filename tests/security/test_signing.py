"""Signed delivery URLs: Cloudflare's published test vector, expiry, tampering, key rotation."""

from __future__ import annotations

import pytest

from enlarger.errors import SignatureError
from enlarger.security.signing import sign_url, signature, verify


def test_published_test_vector() -> None:
    expected = "6293f9144b4e9adc83416d1b059abcac750bf05b2c5c99ea72fd47cc9c2ace34"
    assert signature("this is a secret", "/hello/world") == expected
    verify(["/hello/world"], f"sig={expected}", ["this is a secret"])


def test_expiry_is_signed_and_enforced() -> None:
    url = sign_url("k", "/h/img/public", expires=1_000)
    path, query = url.split("?", 1)
    verify([path], query, ["k"], now=999)
    with pytest.raises(SignatureError, match="expired"):
        verify([path], query, ["k"], now=1_000)
    with pytest.raises(SignatureError, match="invalid signature"):
        verify([path], query.replace("exp=1000", "exp=9999"), ["k"], now=999)  # extending exp breaks the sig


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        ("/h/img/public", "", "missing"),
        ("/h/img/public", "sig=00", "invalid signature"),
        ("/h/img/other", None, "invalid signature"),
        ("/h/img/public", "sig=a&sig=b", "once"),
        ("/h/img/public", "exp=soon&sig=00", "invalid exp"),
    ],
)
def test_forged_or_malformed_signatures_are_refused(path: str, query: str | None, message: str) -> None:
    if query is None:
        query = sign_url("k", "/h/img/public").split("?", 1)[1]  # a real signature, for another path
    with pytest.raises(SignatureError, match=message):
        verify([path], query, ["k"])


def test_any_account_key_verifies_so_rotation_keeps_old_urls() -> None:
    path, query = sign_url("old", "/h/i/v").split("?", 1)
    verify([path], query, ["new", "old"])
    with pytest.raises(SignatureError):
        verify([path], query, ["new"])


@pytest.mark.parametrize(
    "tamper",
    [
        "{signed}&exp=9999999999&sig={sig}",  # a later exp after the signed part
        "exp=1000sig=x&exp=9999999999&si%67={sig}",  # the signature under an encoded name
        "{signed}&si%67=x&sig={sig}",  # a second sig, encoded
        "{signed}&sig={sig}&exp=9999999999",  # anything after the signature
    ],
)
def test_nothing_can_be_added_to_a_signed_query(tamper: str) -> None:
    path, query = sign_url("k", "/h/i/v", expires=1_000).split("?", 1)
    signed, sig = query.rsplit("&sig=", 1)
    with pytest.raises(SignatureError):
        verify([path], tamper.format(signed=signed, sig=sig), ["k"], now=2_000)
