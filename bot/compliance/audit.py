"""Append-only audit log of compliance decisions, hash-chained so that a changed or deleted row
is detectable (each row's hash covers its content and the previous row's hash)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import AuditEntry, utcnow

__all__ = ["AuditEntry", "record", "verify_chain"]


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
    last = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
    prev = str(last.hash) if last is not None else "0" * 64
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
