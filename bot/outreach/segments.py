"""Segmentation of accounts (``data/segments.yml``): DPD bucket, balance band, payment history,
broken promises and hardship flags, read from the system of record.

A segment is a mapping of the dimensions in :data:`bot.outreach.strategies.DIMENSIONS` to a value, e.g.
``{"dpd_bucket": "31-60", "balance_band": "medium", "history": "poor", "broken_promises": "some",
"hardship": "none"}``; :func:`bot.outreach.strategies.strategy_for` picks its strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot import db
from bot.accounts import dpd_bucket
from bot.settings import DataFileError, read_data_file

HARDSHIP_EVENTS = ("hardship_disclosed", "handoff_crisis", "breathing_space")
# a disclosure of military service ("type=military ..." in actions/safety.py's detail) is served by
# the SCRA rate cap (50 U.S.C. 3937), not by the hardship strategy's forbearance
NOT_FINANCIAL_HARDSHIP = "type=military%"


@dataclass(frozen=True)
class SegmentRules:
    """Thresholds: ``balance_bands`` maps a currency to the (low, medium) upper bounds in major
    units; history counts full payments in the last ``history_months`` months."""

    balance_bands: dict[str, tuple[Decimal, Decimal]]
    history_months: int
    good_min_full: int
    mixed_min_full: int
    hardship_days: int


@cache
def segment_rules() -> SegmentRules:
    """``data/segments.yml``, validated; DataFileError names the field."""
    raw = read_data_file("segments.yml")
    where = "data/segments.yml"
    bands: dict[str, tuple[Decimal, Decimal]] = {}
    for currency, pair in (raw.get("balance_bands") or {}).items():
        if not isinstance(pair, list) or len(pair) != 2 or Decimal(str(pair[0])) >= Decimal(str(pair[1])):
            raise DataFileError(f"{where}: field 'balance_bands.{currency}' must be [low upper, medium upper]")
        bands[str(currency)] = (Decimal(str(pair[0])), Decimal(str(pair[1])))
    if not bands:
        raise DataFileError(f"{where}: missing field 'balance_bands'")
    history = raw.get("history")
    if not isinstance(history, dict):
        raise DataFileError(f"{where}: missing field 'history'")
    values = {}
    for key in ("months", "good_min_full", "mixed_min_full"):
        value = history.get(key)
        if not isinstance(value, int) or value < 0:
            raise DataFileError(f"{where}: field 'history.{key}' must be a non-negative integer")
        values[key] = value
    days = raw.get("hardship_days")
    if not isinstance(days, int) or days < 0:
        raise DataFileError(f"{where}: field 'hardship_days' must be a non-negative integer")
    return SegmentRules(bands, values["months"], values["good_min_full"], values["mixed_min_full"], days)


@dataclass(frozen=True)
class AccountFacts:
    """What segmentation looks at for one account. ``balance_minor`` in minor units of
    ``currency``; ``full_payments``/``broken_promises`` count over the history window;
    ``hardship`` is a hardship in the payment history or reported in a recent conversation."""

    account_id: str
    days_past_due: int
    balance_minor: int
    currency: str
    full_payments: int
    broken_promises: int
    hardship: bool


def classify(facts: AccountFacts, rules: SegmentRules | None = None) -> dict[str, str]:
    """The segment of an account (see the module docstring)."""
    rules = rules or segment_rules()
    low, medium = rules.balance_bands.get(facts.currency, rules.balance_bands.get("USD", (Decimal(0), Decimal(0))))
    balance = Decimal(facts.balance_minor) / 100
    band = "low" if balance <= low else "medium" if balance <= medium else "high"
    history = (
        "good"
        if facts.full_payments >= rules.good_min_full
        else "mixed"
        if facts.full_payments >= rules.mixed_min_full
        else "poor"
    )
    return {
        "dpd_bucket": dpd_bucket(facts.days_past_due),
        "balance_band": band,
        "history": history,
        "broken_promises": "some" if facts.broken_promises else "none",
        "hardship": "flagged" if facts.hardship else "none",
    }


def segment_key(segment: dict[str, str]) -> str:
    """A short label such as ``31-60/medium/poor/broken/hardship``."""
    return "/".join(
        [
            segment["dpd_bucket"],
            segment["balance_band"],
            segment["history"],
            "broken" if segment["broken_promises"] == "some" else "kept",
            "hardship" if segment["hardship"] == "flagged" else "ok",
        ]
    )


def facts_for(
    session: Session, account: db.Account, now: datetime, history: Sequence[Any] | None = None
) -> AccountFacts:
    """Facts for ``account`` from the system of record at ``now`` (aware): its payment history
    (last ``history_months`` months), PTPs marked broken, and hardship events in the contact log."""
    rules = segment_rules()
    months = (
        history
        if history is not None
        else session.execute(
            select(db.PaymentMonth).where(db.PaymentMonth.account_id == account.id).order_by(db.PaymentMonth.month)
        )
        .scalars()
        .all()
    )
    broken_ptps = len(
        session.execute(
            select(db.PromiseToPay.id).where(
                db.PromiseToPay.account_id == account.id, db.PromiseToPay.status == "broken"
            )
        ).all()
    )
    since = now - timedelta(days=rules.hardship_days)
    reported = session.execute(
        select(db.ContactLog.id)
        .where(
            db.ContactLog.account_id == account.id,
            db.ContactLog.event.in_(HARDSHIP_EVENTS),
            db.ContactLog.at >= since,
            or_(db.ContactLog.detail.is_(None), ~db.ContactLog.detail.like(NOT_FINANCIAL_HARDSHIP)),
        )
        .limit(1)
    ).first()
    return facts_from(
        str(account.id),
        int(account.days_past_due),
        int(account.balance_minor),
        str(account.currency),
        months,
        broken_ptps,
        reported is not None,
        rules,
    )


def facts_from(
    account_id: str,
    days_past_due: int,
    balance_minor: int,
    currency: str,
    months: Sequence[Any],
    broken_ptps: int,
    hardship_reported: bool,
    rules: SegmentRules | None = None,
) -> AccountFacts:
    """Facts from what was read already: payment history rows oldest first (attributes
    ``paid_minor``, ``due_minor``, ``promise``, ``hardship``), the count of PTPs marked broken, and
    whether a hardship event is in the contact log within ``hardship_days``."""
    rules = rules or segment_rules()
    recent = list(months)[-rules.history_months :] if rules.history_months else []
    return AccountFacts(
        account_id=account_id,
        days_past_due=days_past_due,
        balance_minor=balance_minor,
        currency=currency,
        full_payments=sum(1 for m in recent if m.paid_minor >= m.due_minor),
        broken_promises=sum(1 for m in recent if m.promise == "broken") + broken_ptps,
        hardship=any(m.hardship for m in recent[-3:]) or hardship_reported,
    )


def history_counts(
    session: Session, account_ids: Sequence[str], rules: SegmentRules | None = None
) -> dict[str, tuple[int, int, bool]]:
    """Per account of ``account_ids``: (full payments, months with a broken promise, a hardship in
    the last three) over its last ``history_months`` months of payment history, counted in the
    database (one row per account). Accounts with no history are left out."""
    from sqlalchemy import case, func

    rules = rules or segment_rules()
    if not rules.history_months or not account_ids:
        return {}
    month = db.PaymentMonth
    ranked = (
        select(
            month.account_id,
            month.paid_minor,
            month.due_minor,
            month.promise,
            month.hardship,
            func.row_number().over(partition_by=month.account_id, order_by=month.month.desc()).label("rn"),
        )
        .where(month.account_id.in_(list(account_ids)))
        .subquery()
    )
    recent = ranked.c.rn <= rules.history_months
    query = select(
        ranked.c.account_id,
        func.sum(case(((recent & (ranked.c.paid_minor >= ranked.c.due_minor)), 1), else_=0)),
        func.sum(case(((recent & (ranked.c.promise == "broken")), 1), else_=0)),
        func.max(case(((ranked.c.rn <= min(3, rules.history_months)) & ranked.c.hardship, 1), else_=0)),
    ).group_by(ranked.c.account_id)
    return {
        str(a): (int(full or 0), int(broken or 0), bool(hardship))
        for a, full, broken, hardship in session.execute(query)
    }


def facts_from_counts(
    account_id: str,
    days_past_due: int,
    balance_minor: int,
    currency: str,
    counts: tuple[int, int, bool],
    broken_ptps: int,
    hardship_reported: bool,
) -> AccountFacts:
    """Facts from :func:`history_counts` of the account and what :func:`facts_from` takes besides."""
    full, broken, hardship = counts
    return AccountFacts(
        account_id=account_id,
        days_past_due=days_past_due,
        balance_minor=balance_minor,
        currency=currency,
        full_payments=full,
        broken_promises=broken + broken_ptps,
        hardship=hardship or hardship_reported,
    )
