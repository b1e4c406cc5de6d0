"""Plans that feel like care: a buffer of disposable income, breathing space for a temporary
hardship, nothing asked of someone with nothing left, no interest leading after a hardship, the
strategy's offer policy, and no payment due on a public holiday."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.money import Money
from bot.repayment import plans
from bot.repayment.plans import PlanRequest, is_holiday, load_policy, policy_for, propose

TODAY = date(2026, 12, 5)  # a Saturday


def usd(x: str) -> Money:
    return Money.of(x, "USD")


def test_plans_leave_a_buffer_of_disposable_income() -> None:
    # $350 left a month: the default policy takes at most 80% of it, never $340 of $350
    request = PlanRequest(usd("2200.00"), 45, "US-NY", TODAY, disposable_monthly=usd("350.00"))
    policy = policy_for("US-NY")
    assert policy.disposable_share == Decimal("0.80")
    assert request.affordable_monthly(policy) == usd("280.00")
    monthly = next(o for o in propose(request) if o.frequency == "monthly")
    assert max(p.amount for p in monthly.schedule) <= usd("280.00")


def test_temporary_hardship_gets_breathing_space_then_a_review() -> None:
    request = PlanRequest(usd("1500.00"), 40, "US-IL", TODAY, hardship_type="job_loss", hardship_duration="temporary")
    options = propose(request)
    assert [o.kind for o in options[:2]] == ["reduced_payments", "deferral"]
    assert "review" in options[0].reason and options[1].total.minor == 0


def test_nothing_left_gets_a_deferral_where_the_policy_allows_else_a_person() -> None:
    # a hardship (its offer policy): nothing to pay for a while, then a review
    hardship = PlanRequest(
        usd("900.00"),
        70,
        "US-TX",
        TODAY,
        hardship_type="medical",
        hardship_duration="lasting",
        disposable_monthly=usd("0"),
    )
    options = propose(hardship)
    assert [o.kind for o in options] == ["deferral"] and options[0].total.minor == 0
    assert options[0].schedule[0].due > TODAY
    # the default policy does not agree a zero arrangement: nothing is offered, a person decides
    plain = PlanRequest(usd("900.00"), 70, "US-TX", TODAY, disposable_monthly=usd("0"))
    assert all(o.needs_collector for o in propose(plain))
    # the UK accepts breathing room (CONC 7.3.4R)
    uk = PlanRequest(Money.of("900", "GBP"), 70, "UK", TODAY, disposable_monthly=Money.of("0", "GBP"))
    assert [o.kind for o in propose(uk)] == ["deferral"]


def test_after_a_hardship_no_option_leads_with_interest() -> None:
    request = PlanRequest(
        usd("2400.00"),
        50,
        "US-CA",
        TODAY,
        hardship_type="job_loss",
        hardship_duration="lasting",
        annual_rate=Decimal("0.1999"),
        disposable_monthly=usd("200.00"),
    )
    options = propose(request)
    assert options and options[0].interest.minor == 0
    # the hardship offer policy freezes interest altogether
    assert all(o.interest.minor == 0 for o in options)
    without = propose(PlanRequest(usd("2400.00"), 50, "US-CA", TODAY, annual_rate=Decimal("0.1999")))
    assert any(o.interest.minor > 0 for o in without)


def test_the_strategy_offer_policy_applies_to_plans() -> None:
    assert policy_for("US-MA", "hardship").name == "hardship"
    assert policy_for("US-MA", "default").name == "default"
    assert policy_for("US-MA", None, hardship=True).name == "hardship"
    assert policy_for("UK", "hardship").name == "uk"  # CONC 7 wins over any strategy
    hardship = load_policy("hardship")
    request = PlanRequest(usd("300.00"), 20, "US-MA", TODAY, disposable_monthly=usd("12.00"))
    # $12 a month (buffer: $9.60) is below the default minimum of $10, above the hardship one of $5
    assert all(o.needs_collector for o in propose(request, load_policy("default")) if o.kind == "instalments")
    assert any(not o.needs_collector for o in propose(request, hardship) if o.kind == "instalments")


def test_no_payment_falls_on_a_public_holiday() -> None:
    assert is_holiday(date(2026, 12, 25), "US-MA")  # Christmas Day, a Friday
    assert is_holiday(date(2026, 4, 20), "US-MA")  # Patriots' Day: Massachusetts only
    assert not is_holiday(date(2026, 4, 20), "US-TX")
    assert is_holiday(date(2026, 12, 28), "UK")  # Boxing Day observed on the Monday
    assert is_holiday(date(2026, 10, 1), "CN")  # National Day
    # a monthly plan from December 18th would fall on Christmas Day: it moves to the next business day
    dates = plans._payment_dates(date(2026, 11, 25), "monthly", 3, True, "US-MA")
    assert dates[1] == date(2026, 12, 28) and all(not is_holiday(d, "US-MA") and d.weekday() < 5 for d in dates)
    request = PlanRequest(usd("3000.00"), 45, "US-MA", date(2026, 12, 18))  # first payment a week on: the 25th
    for option in propose(request):
        for payment in option.schedule:
            assert payment.due.weekday() < 5 and not is_holiday(payment.due, "US-MA"), option
    uk = PlanRequest(Money.of("3000", "GBP"), 45, "UK", date(2026, 12, 21))  # a week on: the 28th
    assert all(p.due != date(2026, 12, 28) for o in propose(uk) for p in o.schedule)
