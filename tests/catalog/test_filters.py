"""Parsing the v2 list's metadata filters: the documented operators, their typing and their limits.

The operators, the pipe list of at most 10, at most 5 filters and 5 nesting levels are from the
SDK's ``images.v2.list`` docstring (Cloudflare's API reference for List images V2).
"""

from __future__ import annotations

import pytest

from enlarger.catalog.filters import MetaFilter, parse_meta_filters
from enlarger.errors import RequestError


def _one(key: str, value: str) -> MetaFilter:
    (found,) = parse_meta_filters([(key, value)])
    return found


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("meta.status[eq]", "active", MetaFilter(("status",), "eq", ("active",))),
        ("meta.status[eq:string]", "5", MetaFilter(("status",), "eq", ("5",))),
        ("meta.priority[eq:number]", "5", MetaFilter(("priority",), "eq", (5,))),
        ("meta.score[eq:number]", "2.5", MetaFilter(("score",), "eq", (2.5,))),
        ("meta.enabled[eq:boolean]", "true", MetaFilter(("enabled",), "eq", (True,))),
        ("meta.priority[gte:number]", "1", MetaFilter(("priority",), "gte", (1,))),
        ("meta.score[lt]", "100", MetaFilter(("score",), "lt", (100,))),
        ("meta.region[in]", "us-east|us-west", MetaFilter(("region",), "eq", ("us-east", "us-west"))),
        ("meta.ratings[in:number]", "4|5", MetaFilter(("ratings",), "eq", (4, 5))),
        ("meta.code[in:string]", "4|x", MetaFilter(("code",), "eq", ("4", "x"))),
        ("meta.a.b.c.d.e[eq]", "x", MetaFilter(("a", "b", "c", "d", "e"), "eq", ("x",))),
    ],
)
def test_documented_operators_parse_to_typed_conditions(key: str, value: str, expected: MetaFilter) -> None:
    """Every operator of the List images V2 reference, typed as its suffix says."""
    assert _one(key, value) == expected


def test_untyped_eq_and_in_match_every_type_the_text_can_be() -> None:
    """Untyped ``eq``/``in`` (the docs leave their type open): the string, and the number or boolean it spells."""
    assert _one("meta.n[eq]", "5").values == ("5", 5)
    assert _one("meta.flag[eq]", "true").values == ("true", True)
    assert _one("meta.n[in]", "5|x").values == ("5", 5, "x")


def test_other_parameters_are_not_filters() -> None:
    assert parse_meta_filters([("per_page", "10"), ("creator", ""), ("metadata", "x")]) == ()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("meta.status", "x")], "meta.<field>[<operator>]"),
        ([("meta", "x")], "meta.<field>[<operator>]"),
        ([("meta.status[like]", "x")], "unknown operator 'like'"),
        ([("meta.n[gt]", "ten")], "not a number"),
        ([("meta.n[gt:number]", "nan")], "not a finite number"),
        ([("meta.b[eq:boolean]", "yes")], "not a boolean"),
        ([("meta.n[in:number]", "1|two")], "not a number"),
        ([("meta.r[in]", "|".join("abcdefghijk"))], "at most 10 values"),
        ([("meta.a.b.c.d.e.f[eq]", "x")], "at most 5 levels"),
        ([("meta.a..b[eq]", "x")], "empty field name"),
        ([('meta.a"b[eq]', "x")], "quotes"),
        ([(f"meta.k{n}[eq]", "x") for n in range(6)], "at most 5 metadata filters"),
    ],
)
def test_malformed_filters_are_refused_with_a_reason(query: list[tuple[str, str]], message: str) -> None:
    """Limits from the List images V2 reference (5 filters, 5 levels, 10 list values, numeric ranges)."""
    with pytest.raises(RequestError) as caught:
        parse_meta_filters(query)
    assert message in caught.value.message
