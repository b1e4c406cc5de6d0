"""Where the ops views get their data: stored Rasa trackers in Redis (read as JSON, the format
Rasa's ``RedisTrackerStore`` writes under ``<key_prefix>:tracker:<sender id>``) and the system of
record (promises to pay, accounts for segments)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.kpis import Conversation, KpiRow, Promise, compute, conversations_from_tracker, segment_for

# endpoints.yml: key_prefix "collections"; Rasa appends ":tracker:"
DEFAULT_KEY_PREFIX = "collections:tracker:"


@dataclass(frozen=True)
class Scope:
    """Which stored conversations count: sender ids starting with one of ``sender_prefixes`` (all
    when empty), started at or after ``since`` (aware; all when None)."""

    sender_prefixes: tuple[str, ...] = ()
    since: datetime | None = None
    key_prefix: str = DEFAULT_KEY_PREFIX


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def sender_ids(client: redis.Redis, scope: Scope) -> list[str]:
    """Sender ids with a stored tracker in ``scope`` (sorted)."""
    patterns = [scope.key_prefix + _glob_escape(p) + "*" for p in scope.sender_prefixes] or [scope.key_prefix + "*"]
    found: set[str] = set()
    for pattern in patterns:
        for key in client.scan_iter(match=pattern, count=500):
            raw = key.decode() if isinstance(key, bytes) else str(key)
            found.add(raw[len(scope.key_prefix) :])
    return sorted(found)


def load_tracker(client: redis.Redis, sender_id: str, key_prefix: str = DEFAULT_KEY_PREFIX) -> dict[str, Any] | None:
    """The stored tracker JSON of one sender, or None when there is none or it is not JSON."""
    raw = client.get(key_prefix + sender_id)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def load_conversations(client: redis.Redis, scope: Scope) -> list[Conversation]:
    """Every conversation in ``scope``, oldest first."""
    out: list[Conversation] = []
    for sender in sender_ids(client, scope):
        tracker = load_tracker(client, sender, scope.key_prefix)
        if tracker is None:
            continue
        out.extend(
            c for c in conversations_from_tracker(sender, tracker) if scope.since is None or c.started_at >= scope.since
        )
    return sorted(out, key=lambda c: c.started_at)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def load_promises(session: Session, conversations: Sequence[Conversation]) -> list[Promise]:
    """Promises to pay made in these conversations' sender ids."""
    senders = sorted({c.sender_id for c in conversations})
    out: list[Promise] = []
    for start in range(0, len(senders), 500):
        rows = session.execute(
            select(db.PromiseToPay).where(db.PromiseToPay.conversation_id.in_(senders[start : start + 500]))
        ).scalars()
        out.extend(Promise(str(r.conversation_id), _aware(r.created_at), str(r.status)) for r in rows)
    return out


def load_segments(session: Session, account_ids: Iterable[str]) -> dict[str, str]:
    """Account id → segment (DPD bucket) for the given accounts."""
    ids = sorted({a for a in account_ids if a})
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        for account_id, dpd in session.execute(
            select(db.Account.id, db.Account.days_past_due).where(db.Account.id.in_(ids[start : start + 500]))
        ):
            out[str(account_id)] = segment_for(int(dpd))
    return out


def kpi_report(
    client: redis.Redis, session: Session, scope: Scope, by: str | None = None
) -> tuple[list[KpiRow], list[Conversation]]:
    """KPI rows (groups then "total", see :func:`bot.kpis.compute`) and the conversations counted."""
    conversations = load_conversations(client, scope)
    promises = load_promises(session, conversations)
    segments = load_segments(session, (c.account_id for c in conversations if c.account_id))
    return compute(conversations, promises, by=by, segments=segments), conversations
