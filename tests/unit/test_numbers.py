"""Numbers and money as people type them: one reading on every page (walk-in prices,
payments, stock costs, weights, carats)."""

from decimal import Decimal

import pytest

from workflow.errors import InvalidInput
from workflow.numbers import parse_decimal


@pytest.mark.parametrize(("typed", "value"), [
    ("1,200", Decimal("1200")), ("$1,200.00", Decimal("1200.00")),
    ("12,500.50", Decimal("12500.50")), ("USD 1200", Decimal("1200")),
    ("0,5", Decimal("0.5")), ("12,75", Decimal("12.75")), ("€ 45,50", Decimal("45.50")),
    (" 300 ", Decimal("300")), ("-5", Decimal("-5")), ("6.000", Decimal("6.000")),
])
def test_a_typed_number_means_what_the_person_meant(typed, value):
    assert parse_decimal(typed, "The cost") == value


@pytest.mark.parametrize("typed", ["1.200.00", "1,2,3", "ten", "1,,2"])
def test_an_unreadable_number_is_refused_quoting_what_was_typed(typed):
    with pytest.raises(InvalidInput) as err:
        parse_decimal(typed, "The cost")
    assert str(err.value) == f"The cost {typed!r} is not a number."


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_blank_is_no_number(typed):
    assert parse_decimal(typed, "The cost") is None
