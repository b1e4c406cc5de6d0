"""What the plan action reads back: unequal instalments said as they are ("5 of $1,580.39 and 1 of
$1,580.38"), the strategy's tone before the options, and GSM-7 text."""

from __future__ import annotations

from datetime import date

from actions.common import Wording
from actions.plans import amount_groups, describe, schedule_lines
from bot.compliance.lint import sms_segments
from bot.money import Money
from bot.repayment.plans import Payment, PlanOption
from bot.texts import texts_for


def _account(language: str = "en") -> Wording:
    """How a plan is worded for a debtor in Massachusetts, in ``language``."""
    return Wording(texts_for(language, "US-MA"), "en_US" if language == "en" else "zh_CN")


def _option(amounts: list[int], interest: int = 0) -> PlanOption:
    schedule = tuple(Payment(date(2027, 1 + i, 4), Money(a, "USD")) for i, a in enumerate(amounts))
    total = Money(sum(amounts), "USD")
    return PlanOption("instalments", schedule, total, Money(0, "USD"), Money(interest, "USD"), "", "monthly")


def test_unequal_instalments_are_read_back_truthfully() -> None:
    option = _option([158038] + [158039] * 5)
    assert amount_groups(option) == [(Money(158039, "USD"), 5), (Money(158038, "USD"), 1)]
    line = describe(option, _account())
    assert line.startswith("6 monthly payments: 5 of $1,580.39 and 1 of $1,580.38"), line
    assert "6 monthly payments of" not in line
    chinese = describe(option, _account("zh"))
    assert chinese.startswith("每月还款，共6期：5期每期US$1,580.39，1期每期US$1,580.38"), chinese


def test_equal_instalments_keep_the_short_form() -> None:
    line = describe(_option([5000] * 4), _account())
    assert line.startswith("4 monthly payments of $50.00") and "no interest" in line


def test_a_last_smaller_payment_is_its_own_group() -> None:
    line = describe(_option([4000] * 11 + [1234]), _account())
    assert "11 of $40.00 and 1 of $12.34" in line, line
    three = describe(_option([4000, 4001, 1234]), _account())
    assert "1 of $40.00, 1 of $40.01 and 1 of $12.34" in three, three


def test_long_schedules_are_shortened_in_gsm7() -> None:
    lines = schedule_lines(_option([5000] * 12), _account())
    assert "... 7 more, the last on" in lines and sms_segments(lines).encoding == "GSM-7"


def test_a_payment_moved_off_a_public_holiday_says_so() -> None:
    # fortnightly from Friday 11 December 2026: the 25th is Christmas Day, so that payment is on Monday the 28th
    dues = [date(2026, 12, 11), date(2026, 12, 28), date(2027, 1, 8)]
    schedule = tuple(Payment(d, Money(4000, "USD")) for d in dues)
    option = PlanOption(
        "instalments", schedule, Money(12000, "USD"), Money(0, "USD"), Money(0, "USD"), "", "fortnightly"
    )
    english = schedule_lines(option, Wording(texts_for("en", "US-MA"), "en_US", "US-MA")).splitlines()
    assert english[1] == "- Dec 28, 2026: $40.00 (moved from Dec 25, 2026, a public holiday)", english
    assert "moved" not in english[0] + english[2]
    chinese = schedule_lines(option, Wording(texts_for("zh", "US-MA"), "zh_CN", "US-MA")).splitlines()
    assert "原定2026年12月25日为法定节假日，顺延" in chinese[1], chinese


def test_a_regular_schedule_has_no_moved_payments() -> None:
    from bot.repayment.plans import moved_off_cadence

    assert moved_off_cadence([date(2027, 1, 4), date(2027, 2, 4), date(2027, 3, 4)], "monthly") == {}
    # the 29th clamps to 28 February 2027, a Sunday: the payment on Monday 1 March replaced it
    assert moved_off_cadence([date(2027, 1, 29), date(2027, 3, 1)], "monthly") == {date(2027, 3, 1): date(2027, 2, 28)}
    assert moved_off_cadence([date(2027, 1, 4)], "monthly") == {}


def test_a_payment_moved_past_a_weekend_and_a_holiday_names_the_holiday() -> None:
    # monthly from 14 January 2027: 14 February is a Sunday and the 15th is Presidents' Day
    dues = [date(2027, 1, 14), date(2027, 2, 16), date(2027, 3, 15)]
    schedule = tuple(Payment(d, Money(4000, "USD")) for d in dues)
    option = PlanOption("instalments", schedule, Money(12000, "USD"), Money(0, "USD"), Money(0, "USD"), "", "monthly")
    lines = schedule_lines(option, Wording(texts_for("en", "US-MA"), "en_US", "US-MA")).splitlines()
    assert lines[1] == "- Feb 16, 2027: $40.00 (moved from Feb 14, 2027, a weekend and a public holiday)", lines
