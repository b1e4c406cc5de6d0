from decimal import Decimal

import pytest

from bot.money import Money, MoneyError


def test_minor_units_and_formatting() -> None:
    m = Money.of("1240.50", "usd")
    assert (m.minor, m.currency, m.amount) == (124050, "USD", Decimal("1240.50"))
    assert m.format() == "$1,240.50"
    assert Money.of("2150", "GBP").format("en_GB") == "£2,150.00"
    assert Money.of(5, "JPY").minor == 5  # no minor unit
    assert m.as_entity() == {"amount": "1240.50", "currency": "USD"}


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "1.005"])
def test_rejects_what_the_currency_cannot_hold(bad: str) -> None:
    with pytest.raises(MoneyError):
        Money.of(bad, "USD")
