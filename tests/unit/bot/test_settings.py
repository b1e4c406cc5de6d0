from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bot import settings
from bot.money import Money
from bot.repayment.promises import check_promise
from bot.settings import DataFileError, PromiseRules

RULES = PromiseRules(min_amount=Decimal("1.00"), max_days_ahead=30)
TODAY = date(2026, 11, 29)
BALANCE = Money.of("1240.50", "USD")


@pytest.mark.parametrize(
    ("amount", "due", "reason"),
    [
        (Money.of("200", "USD"), date(2026, 12, 4), None),
        (Money.of("1240.50", "USD"), TODAY, None),
        (Money.of("1240.51", "USD"), TODAY, "above_balance"),
        (Money.of("0.50", "USD"), TODAY, "below_minimum"),
        (Money.of("200", "GBP"), TODAY, "currency_mismatch"),
        (Money.of("200", "USD"), date(2026, 11, 28), "date_in_past"),
        (Money.of("200", "USD"), date(2026, 12, 29), None),
        (Money.of("200", "USD"), date(2026, 12, 30), "date_too_far"),
    ],
)
def test_check_promise(amount: Money, due: date, reason: str | None) -> None:
    result = check_promise(BALANCE, amount, due, TODAY, RULES)
    assert (result.ok, result.reason) == (reason is None, reason)


def test_rule_files_load() -> None:
    assert settings.verification_rules().max_attempts == 3
    assert settings.verification_rules().date_order_for("US-MA") == "MDY"
    assert settings.verification_rules().date_order_for("UK") == "DMY"
    assert settings.promise_rules().max_days_ahead >= 1


def test_bad_rule_file_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "promises.yml").write_text("min_amount: lots\nmax_days_ahead: 30\n")
    (tmp_path / "verification.yml").write_text(
        "max_attempts: 3\nlockout_hours: 24\nsecond_factors: [postcode, shoe_size]\ndate_order: {US: MDY}\n"
    )
    monkeypatch.setattr(settings, "DATA", tmp_path)
    settings.promise_rules.cache_clear()
    settings.verification_rules.cache_clear()
    try:
        with pytest.raises(DataFileError, match="min_amount"):
            settings.promise_rules()
        with pytest.raises(DataFileError, match="second_factors"):
            settings.verification_rules()
    finally:
        settings.promise_rules.cache_clear()
        settings.verification_rules.cache_clear()
