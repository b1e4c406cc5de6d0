"""The plan engine: up to three repayment options that the creditor's offer policy allows, that
the debtor can afford, and that the law allows.

Rules it never breaks: no option above the debtor's disposable income when I&E is known (CONC
7.3.4R/7.3.5R due consideration; affordability); interest at most 6% a year for a servicemember's
pre-service debt (SCRA, 50 U.S.C. 3937); in the UK, token payments are accepted, free debt advice
is signposted and no option asks for a lump sum or payment in very few instalments (CONC 7.3.10R);
anything beyond the bot's authority is marked ``needs_collector`` instead of offered.
Money is :class:`bot.money.Money` (minor units); schedules sum exactly to the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from dateutil.relativedelta import relativedelta

from bot.money import Money
from bot.settings import DataFileError

DATA = Path(__file__).resolve().parent.parent / "data" / "offers"
PERIODS_PER_YEAR = {"monthly": 12, "fortnightly": 26, "weekly": 52}
SCRA_RATE_CAP = Decimal("0.06")


@dataclass(frozen=True)
class OfferPolicy:
    """A creditor offer policy (``data/offers/*.yml``); amounts in major units."""

    name: str
    min_instalment: Decimal
    max_term_months: int
    first_payment_window_days: int
    frequencies: tuple[str, ...]
    interest_freeze: bool
    business_days_only: bool
    settlement: dict[str, Decimal]
    forbearance_months: int
    forbearance_min_payment: Decimal
    deferral_days: int
    uk_rules: bool = False
    advice_signpost: str = ""


def _dec(raw: dict[str, Any], key: str, where: str) -> Decimal:
    if key not in raw:
        raise DataFileError(f"{where}: missing field '{key}'")
    try:
        value = Decimal(str(raw[key]))
    except InvalidOperation as exc:
        raise DataFileError(f"{where}: field '{key}' is not a decimal amount") from exc
    if value < 0:
        raise DataFileError(f"{where}: field '{key}' must not be negative")
    return value


def _int(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or value < 0:
        raise DataFileError(f"{where}: field '{key}' must be a non-negative integer")
    return value


def _raw(name: str) -> dict[str, Any]:
    path = DATA / f"{name}.yml"
    if not path.exists():
        raise DataFileError(f"no offer policy file data/offers/{name}.yml")
    raw = yaml.safe_load(path.read_text()) or {}
    parent = raw.get("extends")
    return {**_raw(parent), **raw} if parent else raw


def parse_policy(raw: dict[str, Any], where: str) -> OfferPolicy:
    """Validate an offer policy mapping; DataFileError names the file and field."""
    frequencies = tuple(raw.get("frequencies") or [])
    if not frequencies or any(f not in PERIODS_PER_YEAR for f in frequencies):
        raise DataFileError(f"{where}: field 'frequencies' must list some of {', '.join(PERIODS_PER_YEAR)}")
    settlement_raw = raw.get("settlement") or {}
    settlement = {
        bucket: _dec(settlement_raw, bucket, f"{where}: settlement") for bucket in ("1-30", "31-60", "61-90", "90+")
    }
    if any(v >= 1 for v in settlement.values()):
        raise DataFileError(f"{where}: field 'settlement' discounts must be fractions below 1")
    forbearance = raw.get("forbearance") or {}
    return OfferPolicy(
        name=str(raw.get("policy", where)),
        min_instalment=_dec(raw, "min_instalment", where),
        max_term_months=_int(raw, "max_term_months", where),
        first_payment_window_days=_int(raw, "first_payment_window_days", where),
        frequencies=frequencies,
        interest_freeze=bool(raw.get("interest_freeze", True)),
        business_days_only=bool(raw.get("business_days_only", True)),
        settlement=settlement,
        forbearance_months=_int(forbearance, "months", f"{where}: forbearance"),
        forbearance_min_payment=_dec(forbearance, "min_payment", f"{where}: forbearance"),
        deferral_days=_int(raw, "deferral_days", where),
        uk_rules=bool(raw.get("uk_rules", False)),
        advice_signpost=str(raw.get("advice_signpost", "")),
    )


@cache
def policy_for(jurisdiction: str) -> OfferPolicy:
    """The offer policy for a jurisdiction: ``uk.yml`` for the UK, else ``default.yml``."""
    name = "uk" if jurisdiction.split("-")[0] == "UK" else "default"
    return parse_policy(_raw(name), f"data/offers/{name}.yml")


def dpd_bucket(days_past_due: int) -> str:
    """The DPD bucket: "1-30", "31-60", "61-90" or "90+"."""
    return (
        "1-30" if days_past_due <= 30 else "31-60" if days_past_due <= 60 else "61-90" if days_past_due <= 90 else "90+"
    )


@dataclass(frozen=True)
class Payment:
    """One scheduled payment (debtor's local date)."""

    due: date
    amount: Money


@dataclass(frozen=True)
class PlanRequest:
    """What the engine plans for. ``disposable_monthly`` comes from I&E when known;
    ``annual_rate`` is the contract rate (a fraction); ``today`` is in the debtor's zone."""

    balance: Money
    days_past_due: int
    jurisdiction: str
    today: date
    hardship_type: str | None = None
    hardship_duration: str | None = None
    disposable_monthly: Money | None = None
    annual_rate: Decimal = Decimal("0")


@dataclass(frozen=True)
class PlanOption:
    """One option: its kind, schedule, totals and a one-line reason."""

    kind: str  # pay_in_full, settlement, instalments, reduced_payments, deferral
    schedule: tuple[Payment, ...]
    total: Money
    discount: Money
    interest: Money
    reason: str
    frequency: str | None = None
    needs_collector: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def _business_day(day: date, policy: OfferPolicy) -> date:
    if not policy.business_days_only:
        return day
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _dates(start: date, frequency: str, count: int, policy: OfferPolicy) -> list[date]:
    step = {
        "monthly": relativedelta(months=1),
        "fortnightly": relativedelta(weeks=2),
        "weekly": relativedelta(weeks=1),
    }[frequency]
    return [_business_day(start + step * i, policy) for i in range(count)]


def split_evenly(total: Money, count: int) -> list[Money]:
    """``count`` amounts that sum exactly to ``total``: equal, the remainder on the last one."""
    base = total.minor // count
    amounts = [base] * count
    amounts[-1] += total.minor - base * count
    return [Money(a, total.currency) for a in amounts]


def _interest(principal: Money, rate: Decimal, frequency: str, count: int) -> Money:
    """Interest over an equal-payment schedule on a declining balance (annuity), in minor units."""
    if rate <= 0 or count <= 1:
        return Money(0, principal.currency)
    r = rate / PERIODS_PER_YEAR[frequency]
    payment = Decimal(principal.minor) * r / (1 - (1 + r) ** -count)
    return Money(int((payment * count - principal.minor).quantize(Decimal(1), ROUND_CEILING)), principal.currency)


def _per_period_cap(disposable_monthly: Money | None, frequency: str) -> Money | None:
    if disposable_monthly is None:
        return None
    minor = (Decimal(disposable_monthly.minor) * 12 / PERIODS_PER_YEAR[frequency]).to_integral_value()
    return Money(int(minor), disposable_monthly.currency)


def _instalments(req: PlanRequest, policy: OfferPolicy, frequency: str, rate: Decimal, start: date) -> PlanOption:
    per_year = PERIODS_PER_YEAR[frequency]
    max_count = max(1, policy.max_term_months * per_year // 12)
    minimum = Money.of(policy.min_instalment, req.balance.currency)
    cap = _per_period_cap(req.disposable_monthly, frequency)
    # UK: no payment in very few instalments; elsewhere, a plan of at least two payments
    min_count = 3 if policy.uk_rules else 2
    count = min_count
    if cap is not None and cap.minor > 0:
        count = max(count, -(-req.balance.minor // cap.minor))
    elif cap is None:
        count = max(count, min(6 * per_year // 12, max_count))  # no I&E: a six-month plan
    count = min(count, req.balance.minor // max(minimum.minor, 1)) if minimum.minor else count
    count = max(count, 1)
    needs_collector = count > max_count or (cap is not None and cap.minor < minimum.minor)
    count = min(count, max_count) if not needs_collector else count
    interest = _interest(req.balance, rate, frequency, count)
    total = Money(req.balance.minor + interest.minor, req.balance.currency)
    schedule = tuple(
        Payment(d, a) for d, a in zip(_dates(start, frequency, count, policy), split_evenly(total, count), strict=True)
    )
    amount = schedule[0].amount
    reason = f"{count} {frequency} payments of about {amount}"
    if needs_collector:
        reason += ": beyond what the bot may agree; a collector will review it"
    return PlanOption(
        "instalments", schedule, total, Money(0, total.currency), interest, reason, frequency, needs_collector
    )


def propose(req: PlanRequest, policy: OfferPolicy | None = None) -> list[PlanOption]:
    """Up to three ranked options for ``req`` under ``policy`` (default: the jurisdiction's)."""
    policy = policy or policy_for(req.jurisdiction)
    currency = req.balance.currency
    zero = Money(0, currency)
    rate = Decimal(0) if policy.interest_freeze else req.annual_rate
    if req.hardship_type == "military":
        rate = min(rate, SCRA_RATE_CAP)
    start = _business_day(req.today + timedelta(days=min(7, policy.first_payment_window_days)), policy)
    notes = (policy.advice_signpost,) if policy.advice_signpost else ()
    cap_month = req.disposable_monthly
    options: list[PlanOption] = []

    temporary = req.hardship_type is not None and req.hardship_duration == "temporary"
    if temporary:
        reduced = Money.of(policy.forbearance_min_payment, currency)
        if cap_month is not None:
            reduced = (
                min(reduced, cap_month)
                if cap_month.minor > 0
                else Money.of("1.00", currency)
                if policy.uk_rules
                else zero
            )
        months = policy.forbearance_months
        if reduced.minor > 0:
            schedule = tuple(Payment(d, reduced) for d in _dates(start, "monthly", months, policy))
            options.append(
                PlanOption(
                    "reduced_payments",
                    schedule,
                    Money(reduced.minor * months, currency),
                    zero,
                    zero,
                    f"{months} months of {reduced} while your situation is temporary, then a review",
                    "monthly",
                    notes=notes,
                )
            )
        later = _business_day(req.today + timedelta(days=policy.deferral_days), policy)
        options.append(
            PlanOption(
                "deferral",
                (Payment(later, zero),),
                zero,
                zero,
                zero,
                f"no payment for {policy.deferral_days} days, then we agree a plan",
                notes=notes,
            )
        )

    affordable_now = cap_month is None or cap_month.minor >= req.balance.minor
    if not policy.uk_rules and affordable_now:  # never ask for a lump sum in the UK (CONC 7.3.10R)
        discount_rate = policy.settlement[dpd_bucket(req.days_past_due)]
        if discount_rate > 0:
            discount = Money(int((Decimal(req.balance.minor) * discount_rate).to_integral_value()), currency)
            total = Money(req.balance.minor - discount.minor, currency)
            options.append(
                PlanOption(
                    "settlement",
                    (Payment(start, total),),
                    total,
                    discount,
                    zero,
                    f"settle for {total}, saving {discount}",
                )
            )
        options.append(
            PlanOption(
                "pay_in_full",
                (Payment(start, req.balance),),
                req.balance,
                zero,
                zero,
                f"clear the balance of {req.balance} in one payment",
            )
        )

    for frequency in policy.frequencies:
        option = _instalments(req, policy, frequency, rate, start)
        options.append(
            PlanOption(
                option.kind,
                option.schedule,
                option.total,
                option.discount,
                option.interest,
                option.reason,
                option.frequency,
                option.needs_collector,
                notes,
            )
        )
        if len(options) >= 3:
            break
    offered = [o for o in options if not o.needs_collector] + [o for o in options if o.needs_collector]
    return offered[:3]
