"""Helpers for conversation tests."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis

# the event log of the running test bot (its DATABASE_URL), set by the ``bot`` fixture
EVENT_LOG_URL: str | None = None


def next_weekday_after_today(tz: str, weekday: int) -> date:
    """The next ``weekday`` (Monday=0) strictly after today in ``tz``."""
    today = datetime.now(ZoneInfo(tz)).date()
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def tracker_events(redis_port: int, sender: str) -> list[dict[str, Any]]:
    """Every event of ``sender``'s conversation: earlier sessions from the event log, the current
    one from Redis (key prefix from endpoints.yml), as the tracker store's full tracker."""
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    raw = client.get(f"collections:tracker:{sender}")
    assert raw is not None, f"no tracker stored for {sender}"
    hot = json.loads(raw)
    earlier: list[dict[str, Any]] = []
    if hot.get("offset"):
        from bot import db, eventlog

        assert EVENT_LOG_URL, "earlier sessions are in the event log of the bot fixture"
        with db.session_scope(EVENT_LOG_URL) as session:
            earlier = eventlog.read(session, sender, 0, int(hot["offset"]))
    return earlier + list(hot["events"])


def slot_values(events: list[dict[str, Any]], slot: str) -> list[Any]:
    """Every value ``slot`` was set to, in order."""
    return [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == slot]


def joined(replies: list[list[str]]) -> str:
    """All bot texts of several turns as one string."""
    return "\n".join(t for turn in replies for t in turn)


MINI_MIRANDA = (
    "This is a debt collector. This is an attempt to collect a debt and any information obtained will be "
    "used for that purpose."
)
LATER_DISCLOSURE = "This message is from a debt collector."


def disclosure_due(db_session: Any, account_id: str) -> str:
    """The disclosure the account's right party gets next once verified (12 CFR 1006.18(e)): the
    mini-Miranda in their first conversation, the later disclosure once the contact log holds the
    first one (bot/compliance/disclosures.py). Read before the conversation that verifies."""
    from sqlalchemy import select

    from bot import db

    db_session.expire_all()
    given = db_session.execute(
        select(db.ContactLog.id).where(
            db.ContactLog.account_id == account_id, db.ContactLog.event == "disclosure_first"
        )
    ).first()
    return LATER_DISCLOSURE if given else MINI_MIRANDA
