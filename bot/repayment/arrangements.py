"""Arrangements and promises in the system of record: storing an accepted plan, finding broken
promises and arrangements, and recording payments that keep them.

A plan option travels in the conversation as a plain dict (:func:`option_to_dict`); money in it
is minor units, dates ISO ``YYYY-MM-DD`` in the debtor's time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.money import Money
from bot.repayment.plans import Payment, PlanOption


def option_to_dict(option: PlanOption) -> dict[str, Any]:
    """A JSON-safe dict of ``option`` (minor units, ISO dates), for a slot."""
    currency = option.total.currency
    return {
        "kind": option.kind,
        "frequency": option.frequency,
        "currency": currency,
        "total_minor": option.total.minor,
        "discount_minor": option.discount.minor,
        "interest_minor": option.interest.minor,
        "rate": str(option.rate),
        "reason": option.reason,
        "needs_collector": option.needs_collector,
        "notes": list(option.notes),
        "schedule": [{"due": p.due.isoformat(), "amount_minor": p.amount.minor} for p in option.schedule],
    }


def option_from_dict(raw: dict[str, Any]) -> PlanOption:
    """The inverse of :func:`option_to_dict`. Raises KeyError/ValueError on a malformed dict."""
    currency = str(raw["currency"])
    return PlanOption(
        kind=str(raw["kind"]),
        schedule=tuple(
            Payment(date.fromisoformat(p["due"]), Money(int(p["amount_minor"]), currency)) for p in raw["schedule"]
        ),
        total=Money(int(raw["total_minor"]), currency),
        discount=Money(int(raw["discount_minor"]), currency),
        interest=Money(int(raw["interest_minor"]), currency),
        reason=str(raw["reason"]),
        frequency=raw.get("frequency"),
        needs_collector=bool(raw.get("needs_collector")),
        notes=tuple(raw.get("notes") or ()),
        rate=Decimal(str(raw.get("rate") or "0")),
    )


def record_arrangement(
    session: Session, *, account_id: str, option: PlanOption, channel: str, conversation_id: str | None
) -> tuple[db.Arrangement, db.PromiseToPay | None]:
    """Store an accepted plan as an arrangement, and its first payment as a promise to pay
    (none for a deferral, which has nothing to pay yet). Any earlier active arrangement of the
    account is cancelled, with its open instalment promise: one arrangement at a time; each
    replacement is in the contact log and the audit log (``arrangement_replaced``).
    Returns the rows, flushed (ids set).
    Raises ValueError for an unknown account, one with nothing owing, or a plan other than a
    deferral (a payment holiday) that pays nothing."""
    account = session.get(db.Account, account_id)
    if account is None:
        raise ValueError(f"no account {account_id}")
    if int(account.balance_minor) <= 0:
        raise ValueError(f"account {account_id} has nothing owing: no arrangement to record")
    if option.total.minor <= 0 and option.kind != "deferral":  # a payment holiday pays nothing yet
        raise ValueError(f"a plan of {option.total} pays nothing: no arrangement to record")
    replaced = list(
        session.execute(
            select(db.Arrangement).where(db.Arrangement.account_id == account_id, db.Arrangement.status == "active")
        ).scalars()
    )
    for earlier in replaced:
        earlier.status = "cancelled"
        for stale in _instalment_promises(session, earlier):
            if stale.status == "open":
                stale.status = "cancelled"
    row = db.Arrangement(
        account_id=account_id,
        kind=option.kind,
        frequency=option.frequency,
        total_minor=option.total.minor,
        discount_minor=option.discount.minor,
        interest_minor=option.interest.minor,
        rate_bps=int(option.rate * 10000),
        currency=option.total.currency,
        schedule=json.dumps([{"due": p.due.isoformat(), "amount_minor": p.amount.minor} for p in option.schedule]),
        channel=channel,
        conversation_id=conversation_id,
    )
    session.add(row)
    session.flush()
    db.log_contact(
        session,
        account_id=account_id,
        channel=channel,
        direction="inbound",
        event="arrangement_recorded",
        conversation_id=conversation_id,
        detail=f"ARR-{row.id} {option.kind} {option.total} in {len(option.schedule)} payment(s)",
    )
    for earlier in replaced:
        # a changed mind is on the record: which arrangement the new one replaced, and when
        db.log_contact(
            session,
            account_id=account_id,
            channel=channel,
            direction="inbound",
            event="arrangement_replaced",
            conversation_id=conversation_id,
            detail=f"ARR-{earlier.id} replaced by ARR-{row.id}",
        )
        audit.record(
            session,
            actor="bot",
            action="arrangement_replaced",
            outcome="recorded",
            account_id=account_id,
            detail={"replaced": earlier.id, "by": row.id, "channel": channel},
        )
    first = option.schedule[0]
    promise = None
    if first.amount.minor > 0:
        promise = db.record_promise(
            session,
            account_id=account_id,
            amount=first.amount,
            due_date=first.due,
            channel=channel,
            conversation_id=conversation_id,
        )
    return row, promise


def active_arrangement(session: Session, account_id: str) -> db.Arrangement | None:
    """The account's active arrangement, or None."""
    query = select(db.Arrangement).where(db.Arrangement.account_id == account_id, db.Arrangement.status == "active")
    found: db.Arrangement | None = session.execute(query.order_by(db.Arrangement.id.desc())).scalars().first()
    return found


def _schedule(arrangement: db.Arrangement) -> list[Payment]:
    currency = str(arrangement.currency)
    return [
        Payment(date.fromisoformat(p["due"]), Money(int(p["amount_minor"]), currency))
        for p in json.loads(str(arrangement.schedule))
    ]


def _instalment_promises(session: Session, arrangement: db.Arrangement) -> list[db.PromiseToPay]:
    """The promises made for the arrangement's instalments (by :func:`record_arrangement` and
    :func:`record_payment`): same account and conversation, and the due date and amount of one
    of its scheduled payments."""
    schedule = set(_schedule(arrangement))
    return [
        promise
        for promise in session.execute(
            select(db.PromiseToPay).where(
                db.PromiseToPay.account_id == arrangement.account_id,
                db.PromiseToPay.conversation_id == arrangement.conversation_id,
            )
        ).scalars()
        if Payment(promise.due_date, promise.amount) in schedule
    ]


@dataclass(frozen=True)
class NextPayment:
    """The next payment the debtor agreed: ``amount`` due on ``due`` (debtor's local date), from
    arrangement ``arrangement_id`` or, when that is None, from promise to pay ``promise_id``."""

    amount: Money
    due: date
    arrangement_id: int | None = None
    promise_id: int | None = None


def upcoming_payments(session: Session, account_id: str, today: date) -> list[NextPayment]:
    """Agreed payments due on or after ``today`` (debtor's local date), earliest first: the next
    instalment of the active arrangement, and each open promise to pay that is not that
    instalment's own promise."""
    found: list[NextPayment] = []
    instalments: set[tuple[date, int]] = set()
    for arrangement in session.execute(
        select(db.Arrangement).where(db.Arrangement.account_id == account_id, db.Arrangement.status == "active")
    ).scalars():
        schedule = [p for p in _schedule(arrangement) if p.amount.minor > 0]
        instalments |= {(p.due, p.amount.minor) for p in schedule}
        upcoming = [p for p in schedule if p.due >= today]
        if upcoming:
            found.append(NextPayment(upcoming[0].amount, upcoming[0].due, arrangement_id=int(arrangement.id)))
    for promise in session.execute(
        select(db.PromiseToPay).where(
            db.PromiseToPay.account_id == account_id,
            db.PromiseToPay.status == "open",
            db.PromiseToPay.due_date >= today,
        )
    ).scalars():
        if (promise.due_date, int(promise.amount_minor)) not in instalments:
            found.append(NextPayment(promise.amount, promise.due_date, promise_id=int(promise.id)))
    return sorted(found, key=lambda n: (n.due, n.arrangement_id is None))


def next_payment(session: Session, account_id: str, today: date) -> NextPayment | None:
    """The earliest of :func:`upcoming_payments`, or None when nothing is agreed."""
    return next(iter(upcoming_payments(session, account_id, today)), None)


@dataclass(frozen=True)
class Broken:
    """A promise to pay that fell due unpaid: its id, amount and due date (debtor's local date)."""

    promise_id: int
    amount: Money
    due: date


def mark_broken(session: Session, account_id: str, today: date) -> list[Broken]:
    """Open promises of the account due before ``today`` (debtor's local date) become broken,
    as do the active arrangements they belong to (same conversation). Each is logged
    (``ptp_broken``). Returns what broke now, oldest first; already broken ones are not repeated.
    No payment feed runs here: a promise is kept only by :func:`record_payment`."""
    due = session.execute(
        select(db.PromiseToPay)
        .where(
            db.PromiseToPay.account_id == account_id,
            db.PromiseToPay.status == "open",
            db.PromiseToPay.due_date < today,
        )
        .order_by(db.PromiseToPay.due_date)
    ).scalars()
    broken = []
    for promise in due:
        promise.status = "broken"
        broken.append(Broken(int(promise.id), promise.amount, promise.due_date))
        db.log_contact(
            session,
            account_id=account_id,
            channel=str(promise.channel),
            direction="outbound",
            event="ptp_broken",
            conversation_id=promise.conversation_id,
            detail=f"PTP-{promise.id} {promise.amount} due {promise.due_date.isoformat()}",
        )
        for arrangement in session.execute(
            select(db.Arrangement).where(
                db.Arrangement.account_id == account_id,
                db.Arrangement.status == "active",
                db.Arrangement.conversation_id == promise.conversation_id,
            )
        ).scalars():
            arrangement.status = "broken"
    return broken


def record_payment(
    session: Session, *, account_id: str, amount: Money, paid_on: date, overpayment: bool = False
) -> list[int]:
    """A payment received on ``paid_on``: open or broken promises,
    oldest first, are kept while the payment covers them; the balance goes down by ``amount``
    (never below zero). An arrangement whose promised instalment is kept gets its next instalment
    as an open promise, or is kept after its last. Returns the ids of the promises kept. Raises
    ValueError for an unknown account, a currency that is not the account's, an amount of zero or
    less, or an amount above the balance unless ``overpayment`` says the excess was really received."""
    account = session.get(db.Account, account_id)
    if account is None:
        raise ValueError(f"no account {account_id}")
    if amount.currency != account.currency:
        raise ValueError(f"payment in {amount.currency}, account in {account.currency}")
    if amount.minor <= 0:
        raise ValueError(f"a payment must be more than zero, not {amount}")
    if amount.minor > int(account.balance_minor) and not overpayment:
        raise ValueError(f"{amount} is more than the balance {account.balance} (an overpayment must be stated)")
    account.balance_minor = max(0, int(account.balance_minor) - amount.minor)
    left = amount.minor
    kept = []
    promises = session.execute(
        select(db.PromiseToPay)
        .where(db.PromiseToPay.account_id == account_id, db.PromiseToPay.status.in_(("open", "broken")))
        .order_by(db.PromiseToPay.due_date)
    ).scalars()
    for promise in promises:
        if left < int(promise.amount_minor):
            break
        left -= int(promise.amount_minor)
        promise.status = "kept"
        kept.append(int(promise.id))
    db.log_contact(
        session,
        account_id=account_id,
        channel="payment",
        direction="inbound",
        event="payment_received",
        detail=f"{amount} on {paid_on.isoformat()}; kept {', '.join(f'PTP-{k}' for k in kept) or 'none'}",
    )
    if kept:
        session.flush()
        _promise_next_instalments(session, account_id)
    return kept


def _promise_next_instalments(session: Session, account_id: str) -> None:
    """For each active arrangement whose promised instalment is kept: the next instalment becomes
    an open promise to pay (so it is reminded and, if missed, found broken like the first), or,
    when none is left, the arrangement is kept."""
    for arrangement in session.execute(
        select(db.Arrangement).where(db.Arrangement.account_id == account_id, db.Arrangement.status == "active")
    ).scalars():
        schedule = [p for p in _schedule(arrangement) if p.amount.minor > 0]
        promises = _instalment_promises(session, arrangement)
        if any(p.status == "open" for p in promises):
            continue  # an instalment is already promised
        kept = {p.due_date for p in promises if p.status == "kept"}
        following = [p for p in schedule if not kept or p.due > max(kept)]
        if not following:
            arrangement.status = "kept"
            continue
        db.record_promise(
            session,
            account_id=account_id,
            amount=following[0].amount,
            due_date=following[0].due,
            channel=str(arrangement.channel),
            conversation_id=arrangement.conversation_id,
        )
