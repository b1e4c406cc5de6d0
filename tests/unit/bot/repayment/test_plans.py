"""The plan engine: affordable, within policy, within the law."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from bot.accounts import dpd_bucket
from bot.money import Money
from bot.repayment import plans
from bot.repayment.plans import PlanRequest, parse_policy, policy_for, propose, split_evenly
from bot.settings import DataFileError

TODAY = date(2026, 11, 29)  # a Sunday


def usd(x: str) -> Money:
    return Money.of(x, "USD")


def test_every_schedule_sums_exactly_and_avoids_weekends() -> None:
    for balance in ("1240.50", "999.99", "3800.00", "10.01"):
        for option in propose(PlanRequest(usd(balance), 45, "US-MA", TODAY)):
            assert sum(p.amount.minor for p in option.schedule) == option.total.minor, option
            assert all(p.due.weekday() < 5 for p in option.schedule if option.kind != "deferral")
            assert option.schedule[0].due <= TODAY + plans.timedelta(days=policy_for("US").first_payment_window_days)
    assert [m.minor for m in split_evenly(usd("100.00"), 3)] == [3333, 3333, 3334]


def test_never_above_disposable_income() -> None:
    request = PlanRequest(usd("1240.50"), 45, "US-NY", TODAY, disposable_monthly=usd("150.00"))
    options = propose(request)
    assert options and {o.kind for o in options} == {"instalments"}  # no lump sum it cannot afford
    for option in options:
        cap = {"monthly": 150, "fortnightly": Decimal(150) * 12 / 26, "weekly": Decimal(150) * 12 / 52}[
            option.frequency
        ]
        assert all(p.amount.amount <= Decimal(cap) + Decimal("0.01") for p in option.schedule[:-1])
        assert not option.needs_collector


def test_settlement_discount_follows_the_dpd_bucket() -> None:
    assert dpd_bucket(12) == "1-30" and dpd_bucket(95) == "90+"
    early = {o.kind for o in propose(PlanRequest(usd("560.00"), 12, "US-WA", TODAY))}
    assert "settlement" not in early  # no discount in the first bucket
    late = next(o for o in propose(PlanRequest(usd("3800.00"), 95, "US-CA", TODAY)) if o.kind == "settlement")
    assert late.discount == usd("1520.00") and late.total == usd("2280.00")  # 40% in 90+


def test_scra_caps_interest_at_six_percent() -> None:
    policy = replace(policy_for("US"), interest_freeze=False)
    civilian = PlanRequest(
        usd("1200.00"), 45, "US-TX", TODAY, annual_rate=Decimal("0.24"), disposable_monthly=usd("100")
    )
    military = replace(civilian, hardship_type="military", hardship_duration="temporary")
    civ = next(o for o in propose(civilian, policy) if o.kind == "instalments" and o.frequency == "monthly")
    mil = next(o for o in propose(military, policy) if o.kind == "instalments" and o.frequency == "monthly")
    assert civ.interest.minor > 0 and 0 < mil.interest.minor < civ.interest.minor
    months = len(mil.schedule)
    r = Decimal("0.06") / 12
    expected = Decimal(120000) * r / (1 - (1 + r) ** -months) * months - 120000
    assert abs(mil.interest.minor - int(expected)) <= 1


def test_uk_token_payments_no_lump_sum_and_advice() -> None:
    request = PlanRequest(Money.of("2150", "GBP"), 60, "UK", TODAY, disposable_monthly=Money.of("30", "GBP"))
    options = propose(request)
    assert all(o.kind not in ("pay_in_full", "settlement") for o in options)
    assert all(len(o.schedule) >= 3 for o in options if o.kind == "instalments")
    assert all("MoneyHelper" in " ".join(o.notes) for o in options)
    token = propose(
        replace(
            request, disposable_monthly=Money.of("0.50", "GBP"), hardship_type="job_loss", hardship_duration="temporary"
        )
    )
    # a token payment within the policy's share of what is left (80% of 0.50), leaving a buffer
    assert any(o.kind == "reduced_payments" and o.schedule[0].amount == Money.of("0.40", "GBP") for o in token)


def test_beyond_authority_goes_to_a_collector() -> None:
    request = PlanRequest(usd("3800.00"), 95, "US-CA", TODAY, disposable_monthly=usd("50.00"))
    options = propose(request)
    assert options and all(o.needs_collector for o in options if o.kind == "instalments")
    assert all("collector" in o.reason for o in options if o.needs_collector)


def test_temporary_hardship_gets_forbearance_first() -> None:
    options = propose(
        PlanRequest(usd("1240.50"), 45, "US-MA", TODAY, hardship_type="medical", hardship_duration="temporary")
    )
    assert [o.kind for o in options][:2] == ["reduced_payments", "deferral"] and len(options) <= 3


def test_bad_policy_names_the_field() -> None:
    raw = plans._raw("default")
    with pytest.raises(DataFileError, match="min_instalment"):
        parse_policy({**raw, "min_instalment": "lots"}, "data/offers/default.yml")
    with pytest.raises(DataFileError, match="frequencies"):
        parse_policy({**raw, "frequencies": ["hourly"]}, "data/offers/default.yml")
    with pytest.raises(DataFileError, match="settlement: missing field '31-60'"):
        parse_policy({**raw, "settlement": {"1-30": "0"}}, "data/offers/default.yml")


def test_nothing_left_after_i_and_e_gets_no_payment_proposed() -> None:
    """Found by the plan properties: UK, temporary job loss, I&E leaves 0.00 -> a 1.00 GBP a month
    "token" plan was proposed, above disposable income. The deferral is the offer; a token payment
    the debtor proposes is still accepted (test_negotiation)."""
    for jurisdiction, currency in (("UK", "GBP"), ("US-MA", "USD")):
        request = PlanRequest(
            Money.of("1.00", currency),
            1,
            jurisdiction,
            TODAY,
            hardship_type="job_loss",
            hardship_duration="temporary",
            disposable_monthly=Money(0, currency),
        )
        own = [o for o in propose(request) if not o.needs_collector]  # what the bot may agree itself
        assert [o.kind for o in own] == ["deferral"], own
        assert all(p.amount.minor == 0 for p in own[0].schedule)
