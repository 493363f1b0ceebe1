"""Which line items become jobs, and what the variant options and cart attributes say."""

import pandas as pd
import pytest

from workflow.errors import InvalidInput
from workflow.job_rules import (
    DEFAULT_RULES,
    JobRule,
    cart_attributes,
    makes_job,
    metal_and_karat,
    rules_from_json,
    rules_to_json,
)


def lines(*titles, skus=None, vendors=None, keys=None):
    n = len(titles)
    return pd.DataFrame({"title": list(titles), "sku": skus or [""] * n,
                         "vendor": vendors or [""] * n, "match_key": keys or ["1"] * n})


def test_by_default_everything_is_made_except_gift_cards_wrapping_and_protection():
    got = makes_job(lines("Solitaire Ring - 14K / 7", "Gift Card - $50", "Gift wrap",
                          "Shipping Protection", "Cuban Chain"), DEFAULT_RULES)
    assert got.tolist() == [True, False, False, False, True]


def test_the_first_matching_rule_decides():
    rules = [JobRule("sku_prefix", "STK-", makes_job=False),
             JobRule("vendor", "Atelier", makes_job=True),
             JobRule("name_pattern", "chain", makes_job=False)]
    got = makes_job(lines("Rope Chain", "Rope Chain", "Signet", skus=["STK-1", "", ""],
                          vendors=["", "atelier", ""]), rules)
    assert got.tolist() == [False, True, True]


def test_a_tag_on_the_order_decides_for_all_its_lines():
    rules = [JobRule("tag", "stock", makes_job=False)]
    frame = lines("Ring", "Band", keys=["a", "b"])
    got = makes_job(frame, rules, pd.Series({"a": "vip, stock", "b": "vip"}))
    assert got.tolist() == [False, True]


@pytest.mark.parametrize(("rule", "words"), [
    (JobRule("colour", "x"), "kind 'colour'"),
    (JobRule("sku_prefix", "  "), "say what to match"),
    (JobRule("name_pattern", "(unclosed"), "not a valid pattern"),
])
def test_a_bad_rule_is_refused_with_its_position(rule, words):
    with pytest.raises(InvalidInput, match="Rule 3") as err:
        rule.validate(3)
    assert words in str(err.value)


def test_rules_round_trip_through_their_stored_form():
    rules = [JobRule("vendor", "Luna", True, "our own brand"), *DEFAULT_RULES]
    assert rules_from_json(rules_to_json(rules)) == rules
    assert rules_from_json(None) == DEFAULT_RULES


@pytest.mark.parametrize(("options", "expected"), [
    ("14K Yellow Gold / 6.5", ("yellow gold", "14K", None)),
    ("18K White Gold", ("white gold", "18K", None)),
    ("Platinum / 5", ("platinum", "Pt950", None)),
    ('Sterling Silver / 20"', ("sterling silver", "925", None)),
    ("Rhodium Plating / 8", (None, None, "Rhodium Plating")),
    ("April, Diamond / 18K Gold-plated", (None, None, "18K Gold-plated")),
    ("Small", (None, None, None)),
    ("", (None, None, None)),
])
def test_metal_karat_and_finish_come_from_the_variant_options(options, expected):
    assert metal_and_karat(options) == expected


def test_cart_attributes_split_into_known_keys_and_the_rest():
    known, rest = cart_attributes("Engraving: Always, M.\nGift wrap: yes\nRing size: 7 1/2\n"
                                  "Metal: 18K rose gold\nno colon here\nEmpty:")
    assert known == {"engraving": "Always, M.", "ring_size": "7 1/2", "metal": "18K rose gold"}
    assert rest == {"Gift wrap": "yes"}
