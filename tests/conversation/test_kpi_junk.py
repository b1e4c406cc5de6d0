"""Junk through the real bot (REST, Rasa server, action server, event broker into the analytics
tables): an emoji, a 3,000-character paste nobody could read, a run of punctuation. Nothing is
understood or done in those conversations (what the bot made of them, measured: the emoji got a
"tell me in words" answer, the paste "didn't understand", the punctuation "I can only help with
questions about your account", i.e. out of scope), so they are idle, not contained; the first two
are fallback turns whether the bot answered "didn't understand" or asked "did you mean"."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bot import db
from bot.ops import Scope, kpi_report
from tests.conftest import Bot

JUNK = {
    "emoji": "🙂🙂🙂",
    "paste": ("zqxj vbnm plok " * 200)[:3000],
    "punctuation": "?!?!... ,,, ;;",
}


def _report(database_url: str, prefix: str, conversations: int) -> Any:
    deadline = time.monotonic() + 30  # the event broker writes after the turn is answered
    while True:
        with db.session_scope(database_url) as session:
            total = kpi_report(session, Scope((prefix,)))[-1]
        if total.conversations >= conversations or time.monotonic() > deadline:
            return total


def test_junk_conversations_are_idle_not_contained(bot: Bot, database_url: str) -> None:
    prefix = f"junk-{uuid.uuid4().hex[:6]}-"
    replies = {}
    for name, text in JUNK.items():
        replies[name] = bot.say(prefix + name, text)
    # and one conversation that got somewhere: a question about who we are is answered
    replies["asked"] = bot.say(prefix + "asked", "who is this?")
    total = _report(database_url, prefix, len(replies))
    print("junk replies:", replies)
    print("KPIs:", total.conversations, total.idle, total.handoffs, total.containment_rate, total.fallback_rate)
    assert total.conversations == 4, replies
    assert total.idle == 3 and total.handoffs == 0, (total.idle, replies)
    assert total.containment_rate == 0.25  # only the conversation that was understood
    assert total.fallbacks == 2 and total.fallback_rate == 0.5, replies
