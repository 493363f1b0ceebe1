"""Ring sizes as customers and staff say them, stored as ISO 8653 circumference in mm."""

from __future__ import annotations

import string
from decimal import Decimal

import pytest

from workflow.errors import InvalidInput
from workflow.ring_size import describe, mm_to_uk, mm_to_us, parse_ring_size, us_to_mm


@pytest.mark.parametrize(("typed", "mm"), [
    ("7", "54.41"),
    ("US 7", "54.41"),
    ("size 7", "54.41"),
    ("7 1/2", "55.69"),
    ("7½", "55.69"),
    ("7.5", "55.69"),
    ("7,5", "55.69"),
    ("7.25", "55.05"),
    ("7 1/4", "55.05"),
    ("7 3/4", "56.33"),
])
def test_a_us_size_is_stored_as_its_circumference_in_mm(typed, mm):
    assert parse_ring_size(typed) == Decimal(mm)


@pytest.mark.parametrize(("typed", "mm"), [
    ("N", "54.05"),
    ("N½", "54.68"),
    ("n 1/2", "54.68"),
    ("UK N½", "54.68"),
    ("AU N½", "54.68"),
])
def test_a_uk_or_australian_letter_size_is_stored_in_mm(typed, mm):
    assert parse_ring_size(typed) == Decimal(mm)


@pytest.mark.parametrize(("typed", "mm"), [
    ("EU 54", "54.00"),
    ("eu54", "54.00"),
    ("EU 54.5", "54.50"),
    ("54 mm", "54.00"),
    ("54", "54.00"),
])
def test_an_eu_size_is_the_circumference_in_mm(typed, mm):
    assert parse_ring_size(typed) == Decimal(mm)


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_no_ring_size_is_stored_as_none(blank):
    assert parse_ring_size(blank) is None


@pytest.mark.parametrize("typed", ["seven", "7 and a bit", "17", "ZZ", "-3", "N¾", "EU"])
def test_a_ring_size_that_is_not_a_size_is_refused_naming_what_was_typed(typed):
    with pytest.raises(InvalidInput) as caught:
        parse_ring_size(typed)
    message = str(caught.value)
    assert repr(typed) in message
    assert "US (7, 7 1/2)" in message


def test_a_stored_size_is_shown_in_all_three_systems():
    assert describe(parse_ring_size("7")) == "US 7 · UK N½ · EU 54.4"
    assert describe(parse_ring_size("N½")) == "US 7 · UK N½ · EU 54.7"
    assert describe(parse_ring_size("7 1/2")) == "US 7.5 · UK O½ · EU 55.7"
    assert describe(None) == ""


@pytest.mark.parametrize("typed", ["US 99", "US 54", "54 US"])
def test_a_size_marked_us_is_never_read_as_millimetres(typed):
    with pytest.raises(InvalidInput) as caught:
        parse_ring_size(typed)
    assert repr(typed) in str(caught.value)


@pytest.mark.parametrize("typed", ["7", "7 1/2", "7.25", "N½", "EU 54", "54 mm", "4", "12 3/4"])
def test_each_part_of_what_is_shown_reads_back_as_itself(typed):
    shown = describe(parse_ring_size(typed))
    us, uk, eu = shown.split(" · ")
    assert describe(parse_ring_size(us)).split(" · ")[0] == us
    assert describe(parse_ring_size(uk)).split(" · ")[1] == uk
    assert describe(parse_ring_size(eu)).split(" · ")[2] == eu


@pytest.mark.parametrize("quarters", range(0, 65))
def test_every_us_quarter_size_reads_back_as_itself(quarters):
    size = quarters / 4
    assert mm_to_us(us_to_mm(size)) == size


@pytest.mark.parametrize("letter", string.ascii_uppercase)
def test_every_uk_letter_and_half_reads_back_as_itself(letter):
    for typed in (letter, letter + "½"):
        assert mm_to_uk(parse_ring_size(typed)) == typed
