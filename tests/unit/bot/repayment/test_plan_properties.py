"""Property tests of the plan engine (hypothesis): exact sums, minimums, affordability,
business days and determinism, over random balances, DPD, jurisdictions, I&E and hardship."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.money import Money
from bot.repayment.plans import PERIODS_PER_YEAR, PlanRequest, counter_instalments, policy_for, propose

JURISDICTIONS = {"US-MA": "USD", "US-CA": "USD", "UK": "GBP", "CN": "CNY"}

requests = st.builds(
    lambda jurisdiction, balance, dpd, day, hardship, duration, disposable, rate: PlanRequest(
        balance=Money(balance, JURISDICTIONS[jurisdiction]),
        days_past_due=dpd,
        jurisdiction=jurisdiction,
        today=date(2026, 1, 1) + timedelta(days=day),
        hardship_type=hardship,
        hardship_duration=duration if hardship else None,
        disposable_monthly=None if disposable is None else Money(disposable, JURISDICTIONS[jurisdiction]),
        annual_rate=Decimal(rate) / 10000,
    ),
    st.sampled_from(sorted(JURISDICTIONS)),
    st.integers(min_value=100, max_value=5_000_000),  # minor units
    st.integers(min_value=1, max_value=400),
    st.integers(min_value=0, max_value=730),
    st.sampled_from([None, "job_loss", "medical", "military", "reduced_income"]),
    st.sampled_from(["temporary", "lasting", "unknown"]),
    st.one_of(st.none(), st.integers(min_value=0, max_value=500_000)),
    st.integers(min_value=0, max_value=3500),  # basis points
)


def _per_period_cap(req: PlanRequest, frequency: str) -> int | None:
    if req.disposable_monthly is None:
        return None
    return int(Decimal(req.disposable_monthly.minor) * 12 / PERIODS_PER_YEAR[frequency]) + 1


@settings(max_examples=200, deadline=None)
@given(requests)
def test_plans_hold_their_rules(req: PlanRequest) -> None:
    policy = policy_for(req.jurisdiction)
    options = propose(req)
    assert options == propose(req), "the same input must always give the same plans"
    minimum = Money.of(policy.min_instalment, req.balance.currency).minor
    for option in options:
        amounts = [p.amount.minor for p in option.schedule]
        assert sum(amounts) == option.total.minor, option
        if req.hardship_type and req.disposable_monthly is None:
            assert option.kind not in ("pay_in_full", "settlement"), "no lump sum after a hardship without I&E"
        if option.kind in ("pay_in_full", "settlement"):
            assert option.total.minor + option.discount.minor == req.balance.minor
            assert not policy.uk_rules, "no lump sum under UK rules (CONC 7.3.10R)"
        if option.needs_collector:
            continue
        if policy.business_days_only and option.kind != "deferral":
            assert all(p.due.weekday() < 5 for p in option.schedule)
        cap = _per_period_cap(req, option.frequency or "monthly")
        if cap is not None and option.kind != "deferral":
            assert max(amounts) <= cap, f"above disposable income: {option}"
        if option.kind == "instalments":
            # the last payment takes the remainder; hardship forbearance may go below the floor
            assert all(a >= minimum for a in amounts[:-1]) or req.hardship_type, option
            if policy.uk_rules and req.balance.minor >= 3 * minimum:
                assert len(amounts) >= 3, "no payment in very few instalments (CONC 7.3.10R)"
        if req.hardship_type == "military":
            assert option.rate <= Decimal("0.06")


@settings(max_examples=200, deadline=None)
@given(requests, st.integers(min_value=1, max_value=200_000), st.sampled_from(sorted(PERIODS_PER_YEAR)))
def test_counter_offers_stay_within_policy(req: PlanRequest, offered: int, frequency: str) -> None:
    policy = policy_for(req.jurisdiction)
    counter = counter_instalments(req, Money(offered, req.balance.currency), frequency)
    assert counter == counter_instalments(req, Money(offered, req.balance.currency), frequency)
    if counter.option is None:
        return
    amounts = [p.amount.minor for p in counter.option.schedule]
    assert sum(amounts) == counter.option.total.minor
    cap = _per_period_cap(req, frequency)
    if cap is not None and counter.outcome != "beyond_term":
        assert max(amounts) <= cap
    if counter.outcome == "accepted":
        assert (
            amounts[0] == min(offered, counter.option.total.minor)
            and len(amounts) <= policy.max_term_months * PERIODS_PER_YEAR[frequency] // 12
        )
    if counter.outcome == "token_arrangement":
        assert policy.uk_rules and set(amounts) == {offered}
