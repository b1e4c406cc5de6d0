"""The event log of every conversation (table ``events``), the system of record's copy of what
Rasa's tracker store holds: complete, in order, queryable. The tracker store keeps only the
current session hot and reads earlier sessions from here (``stores/redis_store.py``); the
analytics tables (``bot.analytics``) are kept in step in the same transaction.

Each event has its ``position`` in the conversation's whole history. :func:`append` writes the
events from a position on: events already stored from that position on (a turn that was written
here but then lost its conversation lock and was not saved in the tracker store) are replaced, so
the log always ends as the tracker store does, with no event twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot import analytics, db
from bot.analytics import storable


def _row(sender_id: str, position: int, event: dict[str, Any]) -> dict[str, Any]:
    body = {"sender_id": sender_id, **event}
    timestamp = event.get("timestamp")
    return {
        "sender_id": sender_id,
        "position": position,
        "type_name": str(event.get("event") or "")[:32] or None,
        "timestamp": float(timestamp) if isinstance(timestamp, (int, float)) else None,
        "data": json.dumps(body),
    }


def append(session: Session, sender_id: str, start: int, events: Sequence[dict[str, Any]]) -> int:
    """Store ``events`` (Rasa's ``Event.as_dict`` form) at positions ``start``, ``start + 1``, …
    of conversation ``sender_id`` and project them into the analytics tables, in the caller's
    transaction. Returns how many stored events from ``start`` on were replaced (normally 0).
    Raises ValueError when ``start`` is past the end of what is stored (a gap)."""
    if start < 0:
        raise ValueError("start must be >= 0")
    sender_id = storable(sender_id)
    stored = next_position(session, sender_id)
    if start > stored:
        raise ValueError(f"events of {sender_id!r} from position {start}, but only {stored} are stored")
    replaced = 0
    if start < stored:
        replaced = int(
            session.execute(
                delete(db.EventRecord).where(db.EventRecord.sender_id == sender_id, db.EventRecord.position >= start)
            ).rowcount
            or 0
        )
        again = analytics.forget_from(session, sender_id, start)
        if again is not None and again < start:
            earlier = read(session, sender_id, again, start)
            analytics.project(session, sender_id, list(enumerate(earlier, again)))
    if events:
        session.execute(
            db.EventRecord.__table__.insert(), [_row(sender_id, start + i, e) for i, e in enumerate(events)]
        )
        analytics.project(session, sender_id, list(enumerate(events, start)))
    return replaced


def next_position(session: Session, sender_id: str) -> int:
    """How many events of ``sender_id`` are stored (the position the next one takes)."""
    sender_id = storable(sender_id)
    last = session.execute(select(func.max(db.EventRecord.position)).where(db.EventRecord.sender_id == sender_id))
    value = last.scalar()
    return int(value) + 1 if value is not None else 0


def read(session: Session, sender_id: str, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """The events of ``sender_id`` at positions ``start`` <= p < ``stop`` (all from ``start``
    when ``stop`` is None), in order, as Rasa's event dicts (without ``sender_id``)."""
    sender_id = storable(sender_id)
    query = select(db.EventRecord.data).where(db.EventRecord.sender_id == sender_id, db.EventRecord.position >= start)
    if stop is not None:
        query = query.where(db.EventRecord.position < stop)
    out = []
    for (data,) in session.execute(query.order_by(db.EventRecord.position)):
        event = json.loads(data)
        event.pop("sender_id", None)
        out.append(event)
    return out
