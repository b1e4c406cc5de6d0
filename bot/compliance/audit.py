"""Append-only audit log of compliance decisions, hash-chained so that a changed or deleted row
is detectable (each row's hash covers its content and the previous row's hash).

Writers take turns on the chain's end: on PostgreSQL a transaction-scoped advisory lock
serialises them (two processes reading the same last hash would fork the chain); SQLite has one
writer at a time already. :func:`record_many` appends a batch in one statement (outreach runs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.db import AuditEntry, utcnow

__all__ = ["AuditEntry", "Entry", "record", "record_many", "verify_chain"]
_CHAIN_LOCK = 0x6175646974  # advisory lock key of the chain's end ("audit")


def _digest(
    prev: str,
    at: datetime,
    actor: str,
    account_id: str | None,
    action: str,
    outcome: str,
    reasons: str,
    detail: str | None,
) -> str:
    payload = json.dumps(
        [prev, at.isoformat(), actor, account_id, action, outcome, reasons, detail], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    reasons: list[str] | tuple[str, ...] = (),
    account_id: str | None = None,
    detail: Any = None,
) -> AuditEntry:
    """Append one entry (flushed; committed with the session)."""
    prev = _chain_end(session)
    at = utcnow().replace(microsecond=0)
    reasons_json = json.dumps(list(reasons))
    detail_text = detail if detail is None or isinstance(detail, str) else json.dumps(detail, default=str)
    entry = AuditEntry(
        at=at,
        actor=actor,
        account_id=account_id,
        action=action,
        outcome=outcome,
        reasons=reasons_json,
        detail=detail_text,
        prev_hash=prev,
        hash=_digest(prev, at, actor, account_id, action, outcome, reasons_json, detail_text),
    )
    session.add(entry)
    session.flush()
    return entry


def _chain_end(session: Session) -> str:
    """The last entry's hash ("0" * 64 for none), holding the chain's end until commit on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(_advisory_xact_lock(_CHAIN_LOCK)))
    last = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
    return str(last) if last is not None else "0" * 64


def _advisory_xact_lock(key: int) -> Any:
    from sqlalchemy import func

    return func.pg_advisory_xact_lock(key)


@dataclass(frozen=True)
class Entry:
    """One entry for :func:`record_many` (the arguments of :func:`record`)."""

    actor: str
    action: str
    outcome: str
    reasons: tuple[str, ...] = ()
    account_id: str | None = None
    detail: Any = field(default=None, compare=False)


def record_many(session: Session, entries: Sequence[Entry]) -> int:
    """Append ``entries`` in order, chained, in one INSERT (not committed); returns how many."""
    if not entries:
        return 0
    prev = _chain_end(session)
    at = utcnow().replace(microsecond=0)
    rows = []
    for entry in entries:
        reasons_json = json.dumps(list(entry.reasons))
        detail = entry.detail
        detail_text = detail if detail is None or isinstance(detail, str) else json.dumps(detail, default=str)
        digest = _digest(
            prev, at, entry.actor, entry.account_id, entry.action, entry.outcome, reasons_json, detail_text
        )
        rows.append(
            {
                "at": at,
                "actor": entry.actor,
                "account_id": entry.account_id,
                "action": entry.action,
                "outcome": entry.outcome,
                "reasons": reasons_json,
                "detail": detail_text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(insert(AuditEntry.__table__), rows)
    return len(rows)


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash does not match (tampering), or None when intact."""
    prev = "0" * 64
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=utcnow().tzinfo)
        expected = _digest(
            prev, at, entry.actor, entry.account_id, entry.action, entry.outcome, entry.reasons, entry.detail
        )
        if entry.prev_hash != prev or entry.hash != expected:
            return int(entry.id)
        prev = str(entry.hash)
    return None
