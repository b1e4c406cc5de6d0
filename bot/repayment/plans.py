"""The plan engine: up to three repayment options that the creditor's offer policy allows, that
the debtor can afford, and that the law allows.

Rules it never breaks: no option above the policy's share of the debtor's disposable income when
I&E is known, so a buffer is left for the unexpected (CONC 7.3.4R/7.3.5R due consideration;
affordability); no payment due on a weekend or a public holiday of the debtor's country (the
``holidays`` library) when the policy keeps to business days; interest at most 6% a year for a servicemember's
pre-service debt (SCRA, 50 U.S.C. 3937); in the UK, token payments are accepted, free debt advice
is signposted and no option asks for a lump sum or payment in very few instalments (CONC 7.3.10R);
anything beyond the bot's authority is marked ``needs_collector`` instead of offered.
Money is :class:`bot.money.Money` (minor units); schedules sum exactly to the total.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any, NamedTuple

import holidays
import yaml

from bot.accounts import DPD_BUCKETS, dpd_bucket
from bot.money import Money
from bot.settings import DATA as DATA_DIR
from bot.settings import DataFileError

DATA = DATA_DIR / "offers"
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
    disposable_share: Decimal = Decimal(1)  # the most of disposable income a plan may take (a fraction)
    zero_disposable: str = "handoff"  # nothing left after outgoings: "deferral" (then a review) or "handoff"


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
    """The mapping of ``data/offers/<name>.yml`` with what it ``extends`` merged under it."""
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
    settlement = {bucket: _dec(settlement_raw, bucket, f"{where}: settlement") for bucket in DPD_BUCKETS}
    if any(v >= 1 for v in settlement.values()):
        raise DataFileError(f"{where}: field 'settlement' discounts must be fractions below 1")
    forbearance = raw.get("forbearance") or {}
    share = _dec(raw, "disposable_share", where) if "disposable_share" in raw else Decimal(1)
    if not 0 < share <= 1:
        raise DataFileError(f"{where}: field 'disposable_share' must be a fraction above 0 and at most 1")
    zero = str(raw.get("zero_disposable", "handoff"))
    if zero not in ("deferral", "handoff"):
        raise DataFileError(f"{where}: field 'zero_disposable' must be 'deferral' or 'handoff'")
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
        disposable_share=share,
        zero_disposable=zero,
    )


@cache
def load_policy(name: str) -> OfferPolicy:
    """The offer policy ``data/offers/<name>.yml``. Raises DataFileError naming the file and field."""
    return parse_policy(_raw(name), f"data/offers/{name}.yml")


JURISDICTION_POLICIES = {"UK": "uk", "CN": "cn"}  # by jurisdiction prefix; these win over any strategy


def policy_for(jurisdiction: str, strategy_policy: str | None = None, hardship: bool = False) -> OfferPolicy:
    """The offer policy a plan for this debtor follows: the jurisdiction's own where it has one
    (``uk.yml`` in the UK, whose rules (CONC 7) win over any strategy; ``cn.yml`` in mainland
    China); elsewhere ``hardship.yml`` once the debtor has told us of a hardship (the same policy
    the ``hardship`` strategy gives a hardship on file), else the offer policy of the account's
    strategy (``data/strategies``, ``strategy_policy``), else ``default.yml``.
    Raises DataFileError for a policy name with no file."""
    own = JURISDICTION_POLICIES.get(jurisdiction.split("-")[0])
    if own is not None:
        return load_policy(own)
    if hardship:
        return load_policy("hardship")
    return load_policy(strategy_policy or "default")


def financial_hardship(hardship_type: str | None) -> bool:
    """Whether a hardship type (DESIGN §5 taxonomy) calls for the hardship offer policy: every
    type but ``military``, which is served by the SCRA rate cap (50 U.S.C. 3937), not forbearance."""
    return hardship_type is not None and hardship_type != "military"


# ISO 3166 country of a jurisdiction code whose prefix is not one ("UK" is "GB")
_COUNTRIES = {"UK": "GB"}


@cache
def _holiday_calendar(jurisdiction: str) -> Any:
    """Public holidays of the jurisdiction's country (and state, "US-MA" → MA) from the maintained
    ``holidays`` library; an empty calendar for a code the library does not know."""
    country, _, subdivision = jurisdiction.upper().partition("-")
    country = _COUNTRIES.get(country, country)
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        try:
            return holidays.country_holidays(country)
        except NotImplementedError:
            return holidays.HolidayBase()


def is_holiday(day: date, jurisdiction: str) -> bool:
    """Whether ``day`` is a public holiday where the debtor lives (``jurisdiction`` such as
    "US-MA", "UK", "CN"), by the ``holidays`` library (observed days included)."""
    return day in _holiday_calendar(jurisdiction)


class Payment(NamedTuple):
    """One scheduled payment (debtor's local date). A named tuple: schedules hold hundreds."""

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

    def affordable_monthly(self, policy: OfferPolicy) -> Money | None:
        """The most a plan may take a month: the policy's ``disposable_share`` of disposable
        income, rounded down to the minor unit (None when I&E is unknown)."""
        if self.disposable_monthly is None:
            return None
        minor = (Decimal(self.disposable_monthly.minor) * policy.disposable_share).to_integral_value(ROUND_FLOOR)
        return Money(max(0, int(minor)), self.disposable_monthly.currency)


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
    rate: Decimal = Decimal(0)  # yearly interest rate applied (a fraction), after any SCRA cap


def _business_day(day: date, policy: OfferPolicy, jurisdiction: str = "") -> date:
    """``day``, or the next day that is neither a weekend nor a public holiday of the debtor's
    jurisdiction when the policy keeps to business days."""
    if not policy.business_days_only:
        return day
    while day.weekday() >= 5 or (jurisdiction and is_holiday(day, jurisdiction)):
        day += timedelta(days=1)
    return day


def _add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day (as
    ``dateutil.relativedelta`` does; done by hand because it is the engine's inner loop)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, day.day if day.day <= 28 else min(day.day, monthrange(year, month)[1]))


def _dates(start: date, frequency: str, count: int, policy: OfferPolicy, jurisdiction: str = "") -> tuple[date, ...]:
    return _payment_dates(start, frequency, count, policy.business_days_only, jurisdiction)


@lru_cache(maxsize=8192)
def _payment_dates(
    start: date, frequency: str, count: int, business_days_only: bool, jurisdiction: str = ""
) -> tuple[date, ...]:
    """``count`` due dates from ``start``; when the policy says so, a date on a weekend or a
    public holiday of ``jurisdiction`` moves to the next business day (never past the next due
    date). Cached: a portfolio run plans many accounts from the same first payment day."""
    if frequency == "monthly":
        raw = [_add_months(start, i) for i in range(count)]
    else:
        step = 14 if frequency == "fortnightly" else 7
        raw = [start + timedelta(days=step * i) for i in range(count)]
    if not business_days_only:
        return tuple(raw)
    out = []
    for d in raw:
        while d.weekday() >= 5 or (jurisdiction and is_holiday(d, jurisdiction)):
            d += timedelta(days=1)
        out.append(d)
    return tuple(out)


def moved_off_cadence(dues: list[date], frequency: str | None) -> dict[date, date]:
    """Which of ``dues`` (a schedule's due dates, in order) were moved off the plan's cadence, as
    {actual due date: the regular date it replaced}, so a read-back can say why a payment falls on
    a Monday (the regular date was a weekend or a public holiday, see :func:`_payment_dates`). The
    cadence is counted from the first due date: ``frequency`` "weekly" (7 days), "fortnightly"
    (14) or "monthly" (calendar months); any other frequency, or fewer than two dates, gives {}."""
    if len(dues) < 2 or frequency not in ("weekly", "fortnightly", "monthly"):
        return {}
    start = dues[0]
    moved = {}
    for i, due in enumerate(dues[1:], 1):
        regular = (
            _add_months(start, i)
            if frequency == "monthly"
            else start + timedelta(days=(14 if frequency == "fortnightly" else 7) * i)
        )
        if due != regular and timedelta(0) < due - regular <= timedelta(days=7):
            moved[due] = regular
    return moved


def split_evenly(total: Money, count: int) -> list[Money]:
    """``count`` amounts that sum exactly to ``total``: equal, with the remainder spread one
    minor unit each over the last payments (so none is above ``ceil(total / count)``)."""
    base, remainder = divmod(total.minor, count)
    low, high = Money(base, total.currency), Money(base + 1, total.currency)  # immutable: shared
    return [low] * (count - remainder) + [high] * remainder


def _interest(principal: Money, rate: Decimal, frequency: str, count: int) -> Money:
    """Interest over an equal-payment schedule on a declining balance (annuity), in minor units."""
    if rate <= 0 or count <= 1:
        return Money(0, principal.currency)
    r = rate / PERIODS_PER_YEAR[frequency]
    payment = Decimal(principal.minor) * r / (1 - (1 + r) ** -count)
    return Money(int((payment * count - principal.minor).quantize(Decimal(1), ROUND_CEILING)), principal.currency)


def _per_period_cap(affordable_monthly: Money | None, frequency: str) -> Money | None:
    """The most a plan may take each ``frequency`` period from what it may take a month."""
    if affordable_monthly is None:
        return None
    minor = (Decimal(affordable_monthly.minor) * 12 / PERIODS_PER_YEAR[frequency]).to_integral_value()
    return Money(int(minor), affordable_monthly.currency)


def _instalments(req: PlanRequest, policy: OfferPolicy, frequency: str, rate: Decimal, start: date) -> PlanOption:
    per_year = PERIODS_PER_YEAR[frequency]
    max_count = max(1, policy.max_term_months * per_year // 12)
    minimum = Money.of(policy.min_instalment, req.balance.currency)
    cap = _per_period_cap(req.affordable_monthly(policy), frequency)
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
    # interest raises each payment: lengthen the plan until it fits the debtor's budget again
    while cap is not None and not needs_collector and -(-total.minor // count) > cap.minor:
        if count >= max_count or total.minor // (count + 1) < minimum.minor:
            needs_collector = True
            break
        count += 1
        interest = _interest(req.balance, rate, frequency, count)
        total = Money(req.balance.minor + interest.minor, req.balance.currency)
    schedule = tuple(
        map(Payment, _dates(start, frequency, count, policy, req.jurisdiction), split_evenly(total, count))
    )
    amount = schedule[0].amount
    reason = f"{count} {frequency} payments of about {amount}"
    if needs_collector:
        reason += ": beyond what the bot may agree; a collector will review it"
    return PlanOption(
        "instalments",
        schedule,
        total,
        Money(0, total.currency),
        interest,
        reason,
        frequency,
        needs_collector,
        rate=rate if interest.minor else Decimal(0),
    )


def applied_rate(req: PlanRequest, policy: OfferPolicy) -> Decimal:
    """The yearly rate a plan carries: 0 when the policy freezes interest, else the contract
    rate, capped at 6% for a servicemember (SCRA, 50 U.S.C. 3937(a))."""
    rate = Decimal(0) if policy.interest_freeze else req.annual_rate
    return min(rate, SCRA_RATE_CAP) if req.hardship_type == "military" else rate


def first_payment_day(req: PlanRequest, policy: OfferPolicy) -> date:
    """The first payment date: a week out (inside the policy's window), on a business day."""
    return _business_day(req.today + timedelta(days=min(7, policy.first_payment_window_days)), policy, req.jurisdiction)


def propose(req: PlanRequest, policy: OfferPolicy | None = None) -> list[PlanOption]:
    """Up to three ranked options for ``req`` under ``policy`` (default: :func:`policy_for` the
    jurisdiction, the hardship policy after a hardship). None (an empty list) when the balance is
    zero or less: there is nothing to plan.

    A temporary hardship gets breathing space first: reduced payments for the policy's
    forbearance months, or no payment for ``deferral_days``, then a review. With nothing left
    after outgoings (I&E shows zero disposable income) a policy with ``zero_disposable:
    deferral`` offers only that deferral and review; otherwise nothing the bot may agree fits
    and a person takes it (the options are all ``needs_collector``). After a hardship, options
    without interest come first, so the bot never leads with interest."""
    if req.balance.minor <= 0:
        return []
    policy = policy or policy_for(req.jurisdiction, hardship=financial_hardship(req.hardship_type))
    currency = req.balance.currency
    zero = Money(0, currency)
    rate = applied_rate(req, policy)
    start = first_payment_day(req, policy)
    notes = (policy.advice_signpost,) if policy.advice_signpost else ()
    cap_month = req.affordable_monthly(policy)
    options: list[PlanOption] = []

    temporary = req.hardship_type is not None and req.hardship_duration == "temporary"
    nothing_left = cap_month is not None and cap_month.minor == 0
    if temporary or (nothing_left and policy.zero_disposable == "deferral"):
        reduced = Money.of(policy.forbearance_min_payment, currency)
        if cap_month is not None:
            # never above what I&E leaves: with nothing left the offer is the deferral (breathing
            # space); a token payment the debtor offers is still accepted (counter_instalments)
            reduced = min(reduced, cap_month)
        months = policy.forbearance_months
        if reduced.minor > 0:
            schedule = tuple(Payment(d, reduced) for d in _dates(start, "monthly", months, policy, req.jurisdiction))
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
        later = _business_day(req.today + timedelta(days=policy.deferral_days), policy, req.jurisdiction)
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
        if nothing_left:
            return options  # breathing space and a review: nothing more to plan on nothing left

    # a lump sum only when I&E shows it is affordable, or no hardship was declared
    affordable_now = cap_month.minor >= req.balance.minor if cap_month is not None else req.hardship_type is None
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
                option.rate,
            )
        )
        if len(options) >= 3:
            break
    hardship = req.hardship_type is not None
    offered = sorted(options, key=lambda o: (o.needs_collector, hardship and o.interest.minor > 0))
    return offered[:3]


@dataclass(frozen=True)
class Counter:
    """The answer to a debtor's own offer.

    ``outcome``: ``accepted`` (the offer as a plan), ``token_arrangement`` (UK: a token payment
    for a review period, CONC 7.3.5R/7.3.6G), ``below_minimum`` (under the policy's floor: explain
    it and offer a person), ``above_disposable`` (more than the I&E shows the debtor can afford),
    ``beyond_term`` (too long for the bot's authority), ``never_repays`` (not above the interest),
    ``settlement_accepted``, ``settlement_countered`` (the lowest settlement policy allows),
    ``settlement_unavailable`` (no settlement in this DPD bucket or jurisdiction).
    ``option`` is what the bot can agree now (None when nothing within policy fits);
    ``floor`` the smallest acceptable payment or settlement total; ``needs_collector`` whether a
    person must decide on the debtor's own offer.
    """

    outcome: str
    option: PlanOption | None
    floor: Money | None = None
    needs_collector: bool = False


def _fixed_payment_schedule(
    balance: Money,
    payment: Money,
    rate: Decimal,
    frequency: str,
    start: date,
    policy: OfferPolicy,
    limit: int,
    jurisdiction: str = "",
) -> tuple[tuple[Payment, ...], Money] | None:
    """Payments of ``payment`` each period until ``balance`` (plus interest at ``rate`` a year,
    added each period and rounded half up to the minor unit) is cleared; the last one is the rest.
    None when it would take more than ``limit`` payments or never clears the balance."""
    r = rate / PERIODS_PER_YEAR[frequency]
    owed, interest_total = balance.minor, 0
    amounts: list[int] = []
    while owed > 0:
        interest = int((Decimal(owed) * r).quantize(Decimal(1), ROUND_HALF_UP)) if r else 0
        if payment.minor <= interest or len(amounts) >= limit:
            return None
        owed += interest
        interest_total += interest
        amounts.append(min(payment.minor, owed))
        owed -= amounts[-1]
    dates = _dates(start, frequency, len(amounts), policy, jurisdiction)
    schedule = tuple(Payment(d, Money(a, balance.currency)) for d, a in zip(dates, amounts, strict=True))
    return schedule, Money(interest_total, balance.currency)


def counter_instalments(
    req: PlanRequest,
    offered: Money,
    frequency: str,
    policy: OfferPolicy | None = None,
    first_due: date | None = None,
) -> Counter:
    """Re-plan around the debtor's offer of ``offered`` each ``frequency`` period ("I can only do
    40 a month"), from ``first_due`` when the debtor named the day and it falls within the
    policy's first-payment window (else the usual first payment day). Never agrees above
    disposable income, under the policy's minimum instalment, or beyond its maximum term; the UK
    accepts a token payment for a review period instead of a plan that would run past the
    maximum term (CONC 7.3.5R, 7.3.6G). Raises ValueError for an unknown frequency."""
    policy = policy or policy_for(req.jurisdiction, hardship=financial_hardship(req.hardship_type))
    if frequency not in PERIODS_PER_YEAR:
        raise ValueError(f"unknown frequency {frequency!r}")
    currency = req.balance.currency
    rate = applied_rate(req, policy)
    window = req.today + timedelta(days=policy.first_payment_window_days)
    named = first_due is not None and req.today < first_due <= window
    start = first_due if named and first_due is not None else first_payment_day(req, policy)
    notes = (policy.advice_signpost,) if policy.advice_signpost else ()
    minimum = Money.of(policy.min_instalment, currency)
    cap = _per_period_cap(req.affordable_monthly(policy), frequency)
    max_count = max(1, policy.max_term_months * PERIODS_PER_YEAR[frequency] // 12)
    longest = _longest_plan(req, policy, frequency, rate, start, notes)
    if cap is not None and offered.minor > cap.minor:
        fitting = counter_instalments(req, cap, frequency, policy, first_due) if cap.minor >= minimum.minor else None
        return Counter("above_disposable", fitting.option if fitting else None, cap, needs_collector=fitting is None)
    if offered.minor < minimum.minor:
        return Counter("below_minimum", None, minimum, needs_collector=True)
    planned = _fixed_payment_schedule(req.balance, offered, rate, frequency, start, policy, max_count, req.jurisdiction)
    if planned is not None:
        schedule, interest = planned
        total = Money(req.balance.minor + interest.minor, currency)
        reason = f"{len(schedule)} {frequency} payments of {offered}"
        option = PlanOption(
            "instalments", schedule, total, Money(0, currency), interest, reason, frequency, notes=notes, rate=rate
        )
        return Counter("accepted", option)
    if policy.uk_rules:
        periods = policy.forbearance_months * PERIODS_PER_YEAR[frequency] // 12
        schedule = tuple(
            Payment(d, offered) for d in _dates(start, frequency, max(1, periods), policy, req.jurisdiction)
        )
        reason = (
            f"a token payment of {offered} {frequency} for {policy.forbearance_months} months, then a review; "
            "interest and charges frozen"
        )
        total = Money(offered.minor * len(schedule), currency)
        option = PlanOption(
            "reduced_payments", schedule, total, Money(0, currency), Money(0, currency), reason, frequency, notes=notes
        )
        return Counter("token_arrangement", option)
    outcome = "beyond_term" if longest is not None else "never_repays"
    return Counter(outcome, longest, longest.schedule[0].amount if longest else None, needs_collector=True)


def _longest_plan(
    req: PlanRequest, policy: OfferPolicy, frequency: str, rate: Decimal, start: date, notes: tuple[str, ...]
) -> PlanOption | None:
    """The plan with the smallest instalment the bot may agree: the maximum term, at or above
    the minimum instalment; None when even that is above the debtor's disposable income."""
    count = max(1, policy.max_term_months * PERIODS_PER_YEAR[frequency] // 12)
    count = max(1, min(count, req.balance.minor // max(Money.of(policy.min_instalment, req.balance.currency).minor, 1)))
    interest = _interest(req.balance, rate, frequency, count)
    total = Money(req.balance.minor + interest.minor, req.balance.currency)
    schedule = tuple(
        map(Payment, _dates(start, frequency, count, policy, req.jurisdiction), split_evenly(total, count))
    )
    cap = _per_period_cap(req.affordable_monthly(policy), frequency)
    if cap is not None and max(p.amount.minor for p in schedule) > cap.minor:
        return None
    reason = f"{count} {frequency} payments of about {schedule[0].amount}"
    return PlanOption(
        "instalments", schedule, total, Money(0, total.currency), interest, reason, frequency, notes=notes, rate=rate
    )


def counter_settlement(req: PlanRequest, offered_total: Money, policy: OfferPolicy | None = None) -> Counter:
    """Answer an offer to settle for ``offered_total`` in one payment. The largest discount is
    the policy's for the DPD bucket; below it the bot counters with the lowest settlement it may
    accept. No settlement is offered under UK rules (no lump-sum pressure, CONC 7.3.10R) or where
    the bucket allows no discount. A lump sum above known disposable income goes to a person,
    who checks where the money comes from."""
    policy = policy or policy_for(req.jurisdiction, hardship=financial_hardship(req.hardship_type))
    currency = req.balance.currency
    discount_rate = policy.settlement[dpd_bucket(req.days_past_due)]
    if policy.uk_rules or discount_rate <= 0:
        return Counter("settlement_unavailable", None)
    start = first_payment_day(req, policy)
    discount = Money(int((Decimal(req.balance.minor) * discount_rate).to_integral_value()), currency)
    floor = Money(req.balance.minor - discount.minor, currency)
    agreed = offered_total if offered_total.minor >= floor.minor else floor
    agreed = min(agreed, req.balance)
    saving = Money(req.balance.minor - agreed.minor, currency)
    option = PlanOption(
        "settlement" if saving.minor else "pay_in_full",
        (Payment(start, agreed),),
        agreed,
        saving,
        Money(0, currency),
        f"settle for {agreed}, saving {saving}" if saving.minor else f"clear the balance of {agreed} in one payment",
    )
    unaffordable = req.disposable_monthly is not None and agreed.minor > req.disposable_monthly.minor
    outcome = "settlement_accepted" if offered_total.minor >= floor.minor else "settlement_countered"
    return Counter(outcome, option, floor, needs_collector=unaffordable)
