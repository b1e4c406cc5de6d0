"""Helpers for conversation tests."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis


def next_weekday_after_today(tz: str, weekday: int) -> date:
    """The next ``weekday`` (Monday=0) strictly after today in ``tz``."""
    today = datetime.now(ZoneInfo(tz)).date()
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def tracker_events(redis_port: int, sender: str) -> list[dict[str, Any]]:
    """The events Rasa stored in Redis for ``sender`` (key prefix from endpoints.yml)."""
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    raw = client.get(f"collections:tracker:{sender}")
    assert raw is not None, f"no tracker stored for {sender}"
    return list(json.loads(raw)["events"])


def slot_values(events: list[dict[str, Any]], slot: str) -> list[Any]:
    """Every value ``slot`` was set to, in order."""
    return [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == slot]


def joined(replies: list[list[str]]) -> str:
    """All bot texts of several turns as one string."""
    return "\n".join(t for turn in replies for t in turn)
