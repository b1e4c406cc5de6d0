"""A collector's reply to a conversation that came in over REST: nothing can be pushed to a REST
client, so the bot keeps the reply and hands it over the next time the client calls (with the
answer to its next message, or when it polls), once. Real Rasa server, Redis and console app."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from bot import db
from bot.handoff import HandoffQueue
from tests.conftest import Bot
from tests.console.conftest import Collector


def test_a_reply_to_a_rest_conversation_reaches_the_client_when_it_calls(
    bot: Bot, queue: HandoffQueue, collectors: dict[str, Collector], db_session: Any
) -> None:
    sender = f"rest-{uuid.uuid4().hex[:10]}"
    bot.say(sender, "hello")
    replies = bot.say(sender, "I want to talk to a real person please")
    ticket_id = queue.open_ticket_id(sender)
    assert ticket_id is not None, replies
    ticket = queue.get(ticket_id)
    assert ticket is not None and ticket.channel == "rest"
    ava = collectors["ava"]
    page = ava.client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="reply"' in page and 'id="rest-note"' in page  # a reply form, and what it can and cannot do
    assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
    first = "Hello, this is Ava from the accounts team. I can help you here."
    status, body = ava.post(f"/api/tickets/{ticket_id}/reply", {"text": first})
    assert status == 200 and body["sent"] is True and body["channel"] == "rest", body
    assert "kept" in body["detail"] and "calls again" in body["detail"]

    # the debtor's next message: the reply written before it comes first, marked as a person's
    status, answer = bot.post("/webhooks/rest/webhook", {"sender": sender, "message": "hello? anyone there"})
    assert status == 200
    assert answer[0] == {"recipient_id": sender, "text": first, "from": "collector", "by": "ava"}, answer
    assert all(m.get("text") != first for m in answer[1:])
    # handed over once
    status, again = bot.post("/webhooks/rest/webhook", {"sender": sender, "message": "ok"})
    assert status == 200 and all(m.get("text") != first for m in again), again

    # a client that polls instead gets it from /messages, once
    second = "Thank you for waiting. Could you tell me your account reference?"
    assert ava.post(f"/api/tickets/{ticket_id}/reply", {"text": second})[1]["sent"] is True
    assert bot.get(f"/webhooks/rest/messages?sender={sender}") == (
        200,
        [{"recipient_id": sender, "text": second, "from": "collector", "by": "ava"}],
    )
    assert bot.get(f"/webhooks/rest/messages?sender={sender}") == (200, [])
    assert bot.get("/webhooks/rest/messages")[0] == 400

    delivered = db_session.execute(
        select(db.ContactLog).where(
            db.ContactLog.conversation_id == sender, db.ContactLog.event == "collector_reply_delivered"
        )
    ).scalars()
    assert len(list(delivered)) == 2
    transcript = [m["text"] for m in queue.transcript(sender)]
    assert first in transcript and any("REST client called" in t for t in transcript)
    # only the console may leave a reply: no token, no reply kept
    assert bot.post("/webhooks/rest/collector_message", {"sender": sender, "text": "hi"})[0] == 401
    queue.close(ticket_id, "ava", "other")
