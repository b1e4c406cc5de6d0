"""Handoff queue and console API against the session's real Redis, database and Rasa server."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from typing import Any

from sqlalchemy import select

from bot import db
from bot.handoff import HandoffQueue
from tests.conftest import Bot
from tests.console.conftest import Collector


def _open(queue: HandoffQueue, reason: str = "dispute", account: str = "A-5100") -> int:
    ticket, created = queue.open(
        conversation_id=f"test-{uuid.uuid4().hex[:10]}",
        channel="rest",
        reason=reason,
        account_id=account,
        summary={"verification": "not verified", "last_messages": []},
    )
    assert created
    return ticket.id


def test_two_collectors_claim_at_once_and_exactly_one_wins(
    queue: HandoffQueue, collectors: dict[str, Collector], db_session: Any
) -> None:
    ticket_id = _open(queue)
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def claim(name: str) -> None:
        barrier.wait()
        results[name] = collectors[name].post(f"/api/tickets/{ticket_id}/claim")[0]

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("ava", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409], results
    winner = next(name for name, status in results.items() if status == 200)
    ticket = queue.get(ticket_id)
    assert ticket is not None and ticket.status == "claimed" and ticket.claimed_by == winner
    row = db_session.get(db.HandoffTicket, ticket_id)
    assert row.claimed_by == winner and row.claimed_at is not None

    # the queue itself under more pressure: 12 claimants, one winner
    ticket_id = _open(queue)
    wins: list[bool] = []
    start = threading.Barrier(12)

    def race(i: int) -> None:
        start.wait()
        wins.append(queue.claim(ticket_id, f"c{i}"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_queue_order_is_priority_then_wait(queue: HandoffQueue, collectors: dict[str, Collector]) -> None:
    first_dispute = _open(queue, "dispute")
    fallback = _open(queue, "fallback")
    later_dispute = _open(queue, "dispute")
    crisis = _open(queue, "crisis")
    status, body = collectors["ava"].get("/api/queue")
    assert status == 200
    order = [t["id"] for t in body["waiting"] if t["id"] in {first_dispute, fallback, later_dispute, crisis}]
    assert order == [crisis, first_dispute, later_dispute, fallback]
    for ticket_id in order:  # leave the queue clean for the other tests
        queue.close(ticket_id, "sue", "other", supervisor=True)


def test_a_resolved_ticket_leaves_the_queue(
    queue: HandoffQueue, collectors: dict[str, Collector], db_session: Any
) -> None:
    ticket_id = _open(queue, "already_paid", "A-5102")
    ava, ben = collectors["ava"], collectors["ben"]
    assert ticket_id in [t["id"] for t in ava.get("/api/queue")[1]["waiting"]]
    assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
    assert ticket_id not in [t["id"] for t in ava.get("/api/queue")[1]["waiting"]]
    assert ticket_id in [t["id"] for t in ava.get("/api/queue")[1]["active"]]

    status, body = ben.post(f"/api/tickets/{ticket_id}/resolve", {"outcome": "refused"})
    assert status == 409 and body["error"] == "not_owner"
    status, body = ava.post(f"/api/tickets/{ticket_id}/resolve", {"outcome": "made_up"})
    assert status == 400 and body["error"] == "bad_outcome"
    status, body = ava.post(
        f"/api/tickets/{ticket_id}/resolve", {"outcome": "dispute_logged", "notes": "receipt sent by email"}
    )
    assert status == 200, body

    queue_now = ava.get("/api/queue")[1]
    assert ticket_id not in [t["id"] for t in queue_now["waiting"] + queue_now["active"]]
    ticket = queue.get(ticket_id)
    assert ticket is not None and not queue.is_paused(ticket.conversation_id)
    row = db_session.get(db.HandoffTicket, ticket_id)
    db_session.refresh(row)
    assert row.outcome == "dispute_logged" and row.notes == "receipt sent by email" and row.resolved_at is not None
    assert ava.post(f"/api/tickets/{ticket_id}/resolve", {"outcome": "refused"})[0] == 409  # only once


def test_collector_needs_a_claim_and_clean_wording_to_reply(
    bot: Bot, queue: HandoffQueue, collectors: dict[str, Collector]
) -> None:
    ticket_id = _open(queue, "requested", "A-5103")
    ava = collectors["ava"]
    assert ava.post(f"/api/tickets/{ticket_id}/reply", {"text": "hello"})[0] == 409
    assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
    status, body = ava.post(f"/api/tickets/{ticket_id}/reply", {"text": "Pay now or we will take you to court."})
    assert status == 422 and "threat_of_suit" in body["blocked"]
    assert ava.post(f"/api/tickets/{ticket_id}/reply", {"text": "   "})[0] == 400
    status, body = ava.post(f"/api/tickets/{ticket_id}/reply", {"text": {"a": 1}})
    assert status == 400 and body["error"] == "bad_text"  # never sent as the text "{'a': 1}"
    with urllib.request.urlopen("http://127.0.0.1:" + bot.env["FAKE_TWILIO_PORT"] + "/fake/messages") as r:
        assert not any("take you to court" in (m["body"] or "") for m in json.loads(r.read()))
    queue.close(ticket_id, "ava", "other")


def test_a_request_for_a_person_pauses_the_bot_and_hand_back_resumes_it_with_context(
    bot: Bot, queue: HandoffQueue, collectors: dict[str, Collector], db_session: Any
) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5101")).scalar_one()
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")
    reply = " ".join(bot.say(sender, "i want to speak to a real person"))
    assert (
        "A member of our team will contact you" in reply and "contact details on your account" in reply
    )  # REST: no push
    ticket_id = queue.open_ticket_id(sender)
    assert ticket_id is not None
    ticket = queue.get(ticket_id)
    assert ticket is not None and ticket.reason == "requested" and ticket.account_id == "A-5101"
    assert ticket.summary["verification"] == "not verified"
    assert any("real person" in m["text"] for m in ticket.summary["last_messages"])

    # paused: the bot only acknowledges (never silence); the message is in the transcript and the tracker
    [acknowledged] = bot.say(sender, "hello? how much do i owe")
    assert "added that to your conversation for our team" in acknowledged and "$" not in acknowledged, acknowledged
    assert any(m["from"] == "debtor" and "how much do i owe" in m["text"] for m in queue.transcript(sender))
    tracker = bot.get(f"/conversations/{sender}/tracker?token={bot.env['RASA_API_TOKEN']}")[1]
    assert any(e.get("event") == "user" and e.get("text") == "hello? how much do i owe" for e in tracker["events"])

    ava = collectors["ava"]
    assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
    status, body = ava.post(f"/api/tickets/{ticket_id}/handback", {"slots": {"account_id": "A-1001"}})
    assert status == 400  # only the slots data/handoff.yml allows
    for wrong in ({"identity_verified": "banana"}, {"vulnerable": [1, 2, 3]}, {"collection_hold": {"x": "<script>"}}):
        status, body = ava.post(f"/api/tickets/{ticket_id}/handback", {"slots": wrong})
        assert status == 400 and body["error"] == "bad_slots", (wrong, body)  # values must fit the slot's type
    assert queue.is_paused(sender)
    status, body = ava.post(
        f"/api/tickets/{ticket_id}/handback", {"slots": {"identity_verified": True}, "notes": "verified on the phone"}
    )
    assert status == 200, body
    assert not queue.is_paused(sender)
    row = db_session.get(db.HandoffTicket, ticket_id)
    db_session.refresh(row)
    assert row.outcome == "handed_back"

    # the bot is back, knows who this is and that identity was verified by the collector
    reply = " ".join(bot.say(sender, "what is my balance"))
    assert account.balance.format("en_US") in reply, reply
    tracker = bot.get(f"/conversations/{sender}/tracker?token={bot.env['RASA_API_TOKEN']}")[1]
    assert tracker["slots"]["handoff_reason"] is None and tracker["slots"]["identity_verified"] is True


def test_nobody_is_marked_verified_in_a_conversation_with_no_account(
    bot: Bot, queue: HandoffQueue, collectors: dict[str, Collector]
) -> None:
    sender = "handback-no-account-1"  # no phone number, never gave an account reference
    bot.say(sender, "hi")
    notice = " ".join(bot.say(sender, "i want to speak to a real person"))
    # no account, so no contact details to promise to use
    assert "can't tell which account" in notice and "contact details on your account" not in notice, notice
    ticket_id = queue.open_ticket_id(sender)
    assert ticket_id is not None and queue.get(ticket_id).account_id is None  # type: ignore[union-attr]
    ava = collectors["ava"]
    assert ava.post(f"/api/tickets/{ticket_id}/claim")[0] == 200
    status, body = ava.post(f"/api/tickets/{ticket_id}/handback", {"slots": {"identity_verified": True}})
    assert status == 400 and body["error"] == "no_account", body
    assert queue.is_paused(sender)
    assert ava.post(f"/api/tickets/{ticket_id}/handback", {"slots": {}})[0] == 200
    assert not queue.is_paused(sender)
