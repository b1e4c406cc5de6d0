"""An account's arrangements, promises to pay and opt-outs as the console shows them (ticket page
and account page): references as the debtor was told them (ARR-n, PTP-n), money formatted for the
account's currency, each arrangement with its schedule and status."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from bot import db
from bot.money import Money


def _locale(currency: str) -> str:
    return "en_GB" if currency == "GBP" else "zh_CN" if currency == "CNY" else "en_US"


def _money(minor: int, currency: str) -> str:
    return Money(int(minor), currency).format(_locale(currency))


def arrangement_view(row: db.Arrangement) -> dict[str, Any]:
    """One arrangement: ``reference`` ("ARR-7"), ``kind`` in words with its frequency, ``status``
    (active, kept, broken, cancelled), ``total`` and ``discount`` formatted, ``agreed`` (ISO UTC
    date), ``channel``, and ``schedule``: ``[{"due": "YYYY-MM-DD", "amount": "$100.00"}]`` in the
    debtor's local dates. A schedule that is not readable JSON is shown as empty."""
    currency = str(row.currency)
    try:
        schedule = [
            {"due": str(p["due"]), "amount": _money(int(p["amount_minor"]), currency)}
            for p in json.loads(str(row.schedule or "[]"))
        ]
    except (ValueError, TypeError, KeyError):
        schedule = []
    kind = str(row.kind).replace("_", " ") + (f" ({row.frequency})" if row.frequency else "")
    return {
        "reference": f"ARR-{row.id}",
        "kind": kind,
        "status": str(row.status),
        "total": _money(int(row.total_minor), currency),
        "discount": _money(int(row.discount_minor or 0), currency) if row.discount_minor else None,
        "agreed": row.created_at.date().isoformat() if row.created_at else "",
        "channel": str(row.channel),
        "schedule": schedule,
    }


def promise_view(row: db.PromiseToPay) -> dict[str, Any]:
    """One promise: ``reference`` ("PTP-3"), ``amount`` formatted, ``due`` (ISO date, debtor's
    local date), ``status`` (open, kept, broken, cancelled), ``made`` (ISO UTC date), ``channel``."""
    return {
        "reference": f"PTP-{row.id}",
        "amount": _money(int(row.amount_minor), str(row.currency)),
        "due": row.due_date.isoformat(),
        "status": str(row.status),
        "made": row.created_at.date().isoformat() if row.created_at else "",
        "channel": str(row.channel),
    }


def arrangements_of(session: Session, account_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The account's newest ``limit`` arrangements (:func:`arrangement_view`), newest first."""
    rows = (
        session.query(db.Arrangement)
        .filter_by(account_id=account_id)
        .order_by(db.Arrangement.id.desc())
        .limit(limit)
        .all()
    )
    return [arrangement_view(r) for r in rows]


def promises_of(session: Session, account_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The account's newest ``limit`` promises to pay (:func:`promise_view`), newest first."""
    rows = (
        session.query(db.PromiseToPay)
        .filter_by(account_id=account_id)
        .order_by(db.PromiseToPay.id.desc())
        .limit(limit)
        .all()
    )
    return [promise_view(r) for r in rows]


def opt_outs_of(session: Session, account_id: str, phone: str | None) -> list[str]:
    """The channels the debtor asked us to stop using, from the opt-out ledger (by account or by
    the debtor's phone), oldest first: "sms since 2026-12-05" (12 CFR 1006.14(h): a collector must
    see them before writing; an opt-out is not a collection hold, so it has its own line)."""
    rows = (
        session.query(db.OptOut)
        .filter((db.OptOut.account_id == account_id) | (db.OptOut.address == (phone or account_id)))
        .order_by(db.OptOut.at)
        .all()
    )
    seen: dict[str, str] = {}
    for row in rows:
        seen.setdefault(str(row.channel), f"{row.channel} since {row.at:%Y-%m-%d}")
    return list(seen.values())


def arrangement_by_reference(session: Session, reference: Any) -> dict[str, Any] | None:
    """The arrangement with id ``reference`` ("7", 7 or "ARR-7"), or None when there is none."""
    text = str(reference or "").upper().removeprefix("ARR-")
    if not text.isdigit():
        return None
    row = session.get(db.Arrangement, int(text))
    return arrangement_view(row) if row is not None else None
