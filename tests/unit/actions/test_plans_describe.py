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
