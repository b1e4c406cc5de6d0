"""The Twilio SMS channel against the real Rasa server, with the real twilio client sending to
the local fake of Twilio's REST API."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot import db
from tests.conftest import Bot


def fake(bot: Bot, path: str, body: Any = None) -> Any:
    url = f"http://127.0.0.1:{bot.env['FAKE_TWILIO_PORT']}{path}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(
        urllib.request.Request(url, data=data, method="POST" if data else "GET"), timeout=10
    ) as r:
        return json.loads(r.read())


def post_sms(bot: Bot, params: dict[str, str], signature: str | None = "sign") -> int:
    """POST a webhook the way Twilio does; ``signature`` "sign" computes the right one."""
    path = "/webhooks/twilio_sms/webhook"
    public = bot.env["PUBLIC_URL"] + path
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = RequestValidator(bot.env["TWILIO_AUTH_TOKEN"]).compute_signature(public, params)
    if signature:
        headers["X-Twilio-Signature"] = signature
    req = urllib.request.Request(bot.base_url + path, data=urllib.parse.urlencode(params).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def sms(phone: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "From": phone,
        "To": "+15559870000",
        "Body": body,
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "NumMedia": "0",
        **extra,
    }


def replies_to(bot: Bot, phone: str, after: int, expect: int = 1, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = [m["body"] for m in fake(bot, "/fake/messages")[after:] if m["to"] == phone]
        if len(sent) >= expect:
            time.sleep(0.5)
            return [m["body"] for m in fake(bot, "/fake/messages")[after:] if m["to"] == phone]
        time.sleep(0.2)
    return []


def test_unsigned_and_forged_webhooks_are_refused(bot: Bot) -> None:
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms("+16175550177", "hi"), signature=None) == 403
    assert post_sms(bot, sms("+16175550177", "hi"), signature="bm90IGEgc2lnbmF0dXJl") == 403
    time.sleep(1)
    assert len(fake(bot, "/fake/messages")) == before


def test_sms_conversation_redelivery_mms_and_footer(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5012")).scalar_one()
    phone = account.debtor.phone_e164
    before = len(fake(bot, "/fake/messages"))
    first = sms(phone, "hi")
    assert post_sms(bot, first) == 200
    replies = replies_to(bot, phone, before)
    assert replies and replies[0].startswith("Hello, this is Example Lending.")  # business name only before RPC
    assert all(r.endswith("Reply STOP to opt out.") for r in replies)

    # the same MessageSid delivered again is not processed again
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, first) == 200
    time.sleep(2)
    assert len(fake(bot, "/fake/messages")) == count

    # an MMS with no text is answered, not a crash
    assert post_sms(bot, sms(phone, "", NumMedia="1", MediaUrl0="https://example.test/x.jpg")) == 200
    assert any("only read the text" in r for r in replies_to(bot, phone, count))


def test_failed_sends_are_retried_then_logged(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5013")).scalar_one()
    phone = account.debtor.phone_e164
    before = len(fake(bot, "/fake/messages"))
    fake(bot, "/fake/fail", {"count": 2, "status": 503, "code": 20503})
    assert post_sms(bot, sms(phone, "hello")) == 200
    assert replies_to(bot, phone, before), "two 503s then success: the reply still goes out"

    fake(bot, "/fake/fail", {"count": 5, "status": 400, "code": 21211})
    assert post_sms(bot, sms(phone, "April 1 1970")) == 200
    deadline = time.monotonic() + 20
    events: list[str] = []
    while time.monotonic() < deadline and "sms_failed" not in events:
        time.sleep(0.5)
        db_session.expire_all()
        events = [
            r.event
            for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5013")).scalars()
        ]
    assert "sms_failed" in events and "sms_received" in events
    details = [
        r.detail or ""
        for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5013")).scalars()
    ]
    assert not any("April 1 1970" in d for d in details) and any(
        "[date]" in d for d in details
    )  # no date of birth kept
    fake(bot, "/fake/reset", {})


def test_stop_is_recorded_and_delivery_status_is_logged(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5014")).scalar_one()
    phone = account.debtor.phone_e164
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hi")) == 200
    assert replies_to(bot, phone, before)
    assert post_sms(bot, sms(phone, "STOP")) == 200
    time.sleep(1.5)
    db_session.expire_all()
    opt_outs = (
        db_session.execute(select(db.OptOut).where(db.OptOut.address == phone, db.OptOut.channel == "sms"))
        .scalars()
        .all()
    )
    assert len(opt_outs) == 1
    events = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5014")).scalars()
    ]
    assert "opt_out" in events and "sms_reply" in events and "sms_status" in events


def test_after_stop_only_start_gets_an_answer(bot: Bot, db_session: Any, redis_server: Any) -> None:
    """The new-user trial: a verified debtor texts STOP, then asks what they owe. Nothing may be
    sent until START (12 CFR 1006.6(e)); the STOP is in the tracker as the typed opt-out is."""
    from tests.conversation.helpers import tracker_events

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5041")).scalar_one()
    phone = account.debtor.phone_e164
    turns = ["hi", account.debtor.date_of_birth.strftime("%B %d %Y"), account.debtor.postcode]
    for text in turns:
        before = len(fake(bot, "/fake/messages"))
        assert post_sms(bot, sms(phone, text)) == 200
        assert replies_to(bot, phone, before), f"no reply to {text!r}"
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "whats my balance")) == 200
    assert "$" in " ".join(replies_to(bot, phone, before)), "verified: the balance is told before the STOP"

    assert post_sms(bot, sms(phone, "STOP")) == 200
    before = len(fake(bot, "/fake/messages"))
    for text in ["what do i owe", "hello?", ""]:
        assert post_sms(bot, sms(phone, text)) == 200
    time.sleep(6)
    assert [m for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone] == []

    events = tracker_events(redis_server.port, phone)
    actions = [e.get("name") for e in events if e.get("event") == "action"]
    assert "action_opt_out" in actions, "the KPIs count the SMS STOP as an opt-out"
    assert "action_tell_balance" in actions
    after_stop = actions[actions.index("action_opt_out") :]
    assert "action_tell_balance" not in after_stop and "action_opted_out_notice" not in after_stop
    texts = [e.get("text") for e in events if e.get("event") == "user"]
    assert "what do i owe" in texts, "the ignored message is kept in the conversation"
    db_session.expire_all()
    log = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5041")).scalars()
    ]
    assert "balance_disclosed" not in log[log.index("opt_out") :]

    # START lifts it: the conversation goes on
    assert post_sms(bot, sms(phone, "START")) == 200
    time.sleep(1.5)
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "what do i owe")) == 200
    replies = replies_to(bot, phone, before)
    assert replies and all(r.endswith("Reply STOP to opt out.") for r in replies)
    events = tracker_events(redis_server.port, phone)
    actions = [e.get("name") for e in events if e.get("event") == "action"]
    assert "action_opt_in" in actions[actions.index("action_opt_out") :]


def test_crisis_language_after_stop_reaches_a_person_without_an_sms(bot: Bot, db_session: Any) -> None:
    """An opted-out number gets no SMS, but crisis language must not go unseen: it opens a
    top-priority crisis ticket for the collectors."""
    from bot.handoff import HandoffQueue, redis_from_env

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5044")).scalar_one()
    phone = account.debtor.phone_e164
    queue = HandoffQueue(redis_from_env(bot.env), bot.env["DATABASE_URL"])
    assert post_sms(bot, sms(phone, "STOP")) == 200
    time.sleep(1.5)
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "ok")) == 200
    time.sleep(3)
    assert queue.open_ticket_id(phone) is None, "an ordinary message after STOP opens nothing"
    assert post_sms(bot, sms(phone, "i cant take it anymore i want to end it all")) == 200
    ticket = None
    for _ in range(30):
        ticket_id = queue.open_ticket_id(phone)
        ticket = queue.get(ticket_id) if ticket_id is not None else None
        if ticket is not None:
            break
        time.sleep(0.5)
    assert ticket is not None and ticket.reason == "crisis" and ticket.account_id == "A-5044", ticket
    assert any("end it all" in m["text"] for m in queue.transcript(phone) if m["from"] == "debtor")
    assert [m for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone] == []
    queue.close(ticket.id, "sue", "referred", supervisor=True)


def test_signed_webhooks_from_no_phone_number_open_no_conversation(bot: Bot, redis_server: Any) -> None:
    from tests.conversation.test_fuzz import _tracker_exists
    from tests.conversation.test_twilio_voice import call

    before = len(fake(bot, "/fake/messages"))
    for sender in ("not-a-phone", "VERIFY", "+12"):
        assert post_sms(bot, sms(sender, "hi")) == 400, sender
    assert call(bot, {"Direction": "inbound", "SpeechResult": "hi"})[0] == 400  # no caller, no call id
    assert not any(_tracker_exists(redis_server.port, s) for s in ("not-a-phone", "VERIFY", "+12", "default"))
    assert len(fake(bot, "/fake/messages")) == before  # nothing sent to them


def test_an_opt_out_in_words_stops_sms_like_stop_does(bot: Bot, db_session: Any) -> None:
    """ "please stop texting me" over SMS was recorded under Rasa's channel name (twilio_sms), so
    neither the SMS channel nor the outreach gate, which ask about "sms", saw it
    (12 CFR 1006.6(e), 1006.14(h))."""
    from datetime import datetime, timezone

    from bot.compliance.service import conversation_holds, gate_contact

    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5054")).scalar_one()
    phone = account.debtor.phone_e164
    log_start = (bot.logs / "rasa.log").stat().st_size
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hi")) == 200
    assert replies_to(bot, phone, before)
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "please stop texting me")) == 200
    [confirmation] = replies_to(bot, phone, before)
    # one confirmation, without the "Reply STOP to opt out." footer of every other message
    assert "won't receive further messages" in confirmation and "Reply STOP" not in confirmation, confirmation

    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "what do i owe")) == 200
    time.sleep(4)
    assert [m["body"] for m in fake(bot, "/fake/messages")[before:] if m["to"] == phone] == []
    db_session.expire_all()
    log = db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5054")).scalars().all()
    assert {r.channel for r in log} == {"sms"}, sorted({r.channel for r in log})
    now = datetime.now(timezone.utc)
    assert conversation_holds(db_session, account, "sms", phone, now)[1]
    decision = gate_contact(db_session, account, "sms", now, actor="test")
    assert "hold_opt_out" in [r.code for r in decision.reasons], decision
    db_session.rollback()
    # the twilio client's request dumps (a dozen INFO lines per SMS) are not in the server log
    with (bot.logs / "rasa.log").open("rb") as log:
        log.seek(log_start)
        assert b"twilio.async_http_client" not in log.read()
