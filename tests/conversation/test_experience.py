"""What a debtor hit, tried again through the real Rasa server, action server, Redis, the local
fake of Twilio and the local fake of the payment provider: never silent, pay now, hardship
plans without interest up front, numbers people trust, SMS that costs what it should. Inputs are
written for these tests."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from typing import Any

import redis
from sqlalchemy import select

from bot import db
from bot.compliance.lint import sms_segments
from bot.handoff import HandoffQueue, redis_from_env
from tests.conftest import Bot
from tests.conversation.helpers import joined, tracker_events
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms
from tests.conversation.test_twilio_voice import call, says


def _account(db_session: Any, account_id: str) -> db.Account:
    db_session.expire_all()
    return db_session.execute(select(db.Account).where(db.Account.id == account_id)).scalar_one()


def _verify(bot: Bot, sender: str, account: db.Account) -> None:
    bot.say(sender, "hi")
    bot.say(sender, account.debtor.date_of_birth.strftime("%B %d %Y"))
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])


def stripe(bot: Bot, path: str, body: Any = None) -> Any:
    """The local fake of the payment provider's API (test hooks under /fake/)."""
    url = f"http://127.0.0.1:{bot.env['FAKE_STRIPE_PORT']}{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_how_do_i_pay_answers_with_the_methods_and_a_link(bot: Bot, db_session: Any) -> None:
    # an account no other conversation test talks to: A-5171's first conversation is the
    # disclosure-timing test's (tests/conversation/test_compliance_channels.py)
    account = _account(db_session, "A-5034")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account)
    reply = joined([bot.say(sender, "how do I actually make the payment?")])
    assert "online account portal" not in reply and "1-800-555-0199" in reply, reply
    assert "/pay/cs_test_" in reply and account.balance.format("en_US") in reply, reply
    again = joined([bot.say(sender, "ok so where can i pay")])
    assert again.split("/pay/")[1].split()[0] == reply.split("/pay/")[1].split()[0]  # the same page


def test_a_promise_paid_through_its_link_is_kept_once(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5175")  # $1,855.14
    sender = "exp-pay-" + uuid.uuid4().hex[:8]
    bot.say(sender, "hi")
    for text in [account.id, account.debtor.date_of_birth.strftime("%B %d %Y")]:
        bot.say(sender, text)
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])
    assert "How much can you pay?" in joined([bot.say(sender, "I want to pay my bill")])
    # numbers people trust: a clear question, never a guess
    negative = joined([bot.say(sender, "-50")])
    assert "can't be a negative amount" in negative and "already verified" not in negative, negative
    zero = joined([bot.say(sender, "$0")])
    assert "can't pay anything" in zero and "smallest payment" not in zero, zero
    assert "what date" in joined([bot.say(sender, "1,5 thousand")])
    impossible = joined([bot.say(sender, "the 31st of February")])
    assert "There's no February 31" in impossible and "December 31" not in impossible, impossible
    confirm = joined([bot.say(sender, "next friday")])
    assert "$1,500.00" in confirm, confirm  # "1,5 thousand" is 1,500, not 15,000
    recorded = joined([bot.say(sender, "yes")])
    assert "PTP-" in recorded and "/pay/cs_test_" in recorded, recorded
    session_id = recorded.split("/pay/")[1].split()[0]

    db_session.expire_all()
    promise = db_session.execute(
        select(db.PromiseToPay).where(db.PromiseToPay.account_id == account.id, db.PromiseToPay.status == "open")
    ).scalar_one()
    event = stripe(bot, f"/fake/sessions/{session_id}/pay", {})  # the provider posts the signed event

    def kept() -> bool:
        db_session.expire_all()
        return db_session.get(db.PromiseToPay, promise.id).status == "kept"

    _wait(kept)
    assert stripe(bot, f"/fake/events/{event['id']}/resend", {})["status"] == 200  # a replay: answered, ignored
    db_session.expire_all()
    assert _account(db_session, account.id).balance_minor == 185514 - 150000
    received = db_session.execute(
        select(db.ContactLog).where(db.ContactLog.account_id == account.id, db.ContactLog.event == "payment_received")
    ).scalars()
    assert len(list(received)) == 1
    audited = db_session.execute(
        select(db.AuditEntry).where(db.AuditEntry.action == "payment_webhook", db.AuditEntry.account_id == account.id)
    ).scalars()
    assert [json.loads(a.reasons) for a in audited] == [["recorded"]]
    assert db_session.get(db.PaymentEvent, event["id"]).outcome == "recorded"


def test_a_forged_payment_webhook_is_refused(bot: Bot) -> None:
    body = json.dumps({"id": "evt_forged", "type": "checkout.session.completed", "data": {"object": {}}}).encode()
    for headers in ({}, {"Stripe-Signature": "t=1,v1=deadbeef"}):
        request = urllib.request.Request(
            bot.base_url + "/webhooks/payments/webhook",
            data=body,
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
        else:
            raise AssertionError("a forged event was accepted")


def test_a_hardship_offer_does_not_lead_with_interest(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5028")  # $6,683.33 at 19.99%; an account no other test uses
    sender = account.debtor.phone_e164
    _verify(bot, sender, account)
    reply = joined([bot.say(sender, "i lost my job last month, can i pay 50 a month?")])
    assert "interest at" not in reply and "no interest" in reply, reply
    # unequal instalments are read back as they are
    if "monthly payments:" in reply:
        assert " of $" in reply.split("monthly payments:")[1]


def test_an_unknown_sms_sender_waiting_for_a_person_is_never_left_in_silence(bot: Bot, db_session: Any) -> None:
    phone = "+15125559872"  # on no account: placed by its Texas area code
    queue = HandoffQueue(redis_from_env(bot.env), bot.env["DATABASE_URL"])
    assert post_sms(bot, sms(phone, "hi")) == 200
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "i want to talk to a real person")) == 200
    assert any("will reply to you here" in r for r in replies_to(bot, phone, count))
    ticket_id = _wait(lambda: queue.open_ticket_id(phone))
    assert queue.get(ticket_id).account_id is None  # type: ignore[union-attr]

    # the account reference links the conversation and the ticket, with an answer
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "my account number is A-5174")) == 200
    [noted] = replies_to(bot, phone, count)
    assert "added that to your message" in noted, noted
    assert queue.get(ticket_id).account_id == "A-5174"  # type: ignore[union-attr]
    assert "A-5174" in [
        e.get("value") for e in tracker_events(int(bot.env["REDIS_PORT"]), phone) if e.get("name") == "account_id"
    ]

    # the full holding reply at most once a quarter hour; within it every message is still answered
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hello?")) == 200
    [acknowledged] = replies_to(bot, phone, count)
    assert "added that to your conversation for our team" in acknowledged, acknowledged
    assert "We're open" not in acknowledged
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "can i talk to a human")) == 200
    [queued] = replies_to(bot, phone, count)
    assert "already waiting for a member of our team" in queued, queued
    redis.Redis(port=int(bot.env["REDIS_PORT"])).delete(f"collections:handoff:holding:{phone}")  # 15 minutes on
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "anyone there")) == 200
    [holding] = replies_to(bot, phone, count)
    # A-5174 is in New York: the team's hours there
    assert "We're open Monday to Friday 8:00 AM to 8:00 PM, Saturday 9:00 AM to 1:00 PM (your time)" in holding

    # and a STOP in words still works while waiting
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "please stop texting me")) == 200
    [stopped] = replies_to(bot, phone, count)
    assert "won't receive further messages" in stopped
    db_session.expire_all()
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == phone)).scalars().first() is not None
    queue.close(ticket_id, "sue", "other", supervisor=True)


def test_sms_segments_are_recorded_as_twilio_counts_them_with_one_footer_a_reply(bot: Bot) -> None:
    phone = "+12125550130"  # A-5176
    count = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "hi")) == 200
    replies_to(bot, phone, count)
    sent = [m for m in fake(bot, "/fake/messages")[count:] if m["to"] == phone]
    assert sent and sum(m["body"].count("Reply STOP to opt out.") for m in sent) == 1
    for message in sent:
        counted = sms_segments(message["body"])
        assert (counted.encoding, str(counted.segments)) == (message["encoding"], message["num_segments"])
        assert message["encoding"] == "GSM-7"


def test_card_numbers_never_reach_the_tracker(bot: Bot, redis_server: Any) -> None:
    sender = "exp-card-" + uuid.uuid4().hex[:8]
    bot.say(sender, "hi")
    reply = joined([bot.say(sender, "can i just give you my card its 4242 4242 4242 4242")])
    assert "deleted what looked like a card number" in reply, reply
    stored = json.dumps(tracker_events(redis_server.port, sender))
    # the number in any spacing (a bare "4242" can turn up inside an event's timestamp)
    assert "4242 4242" not in stored and "4242424242424242" not in stored and "card number removed" in stored


def test_a_caller_gets_the_link_by_sms_with_consent_or_is_put_through(bot: Bot, db_session: Any) -> None:
    consenting = _account(db_session, "A-5179")
    refusing = _account(db_session, "A-5185")
    refusing.debtor.sms_consent_at = None  # no consent to texts on file
    db_session.commit()
    for account, texted in ((consenting, True), (refusing, False)):
        phone = account.debtor.phone_e164
        base = {"CallSid": f"CA{uuid.uuid4().hex}", "From": phone, "To": "+15559870000", "Direction": "inbound"}
        call(bot, base)
        for spoken in [account.debtor.date_of_birth.strftime("%B %d %Y"), account.debtor.postcode]:
            _, root, _ = call(bot, {**base, "SpeechResult": spoken, "Confidence": "0.93"})
        assert root is not None and "confirmed" in says(root)
        count = len(fake(bot, "/fake/messages"))
        _, root, _ = call(bot, {**base, "SpeechResult": "how can i pay this", "Confidence": "0.93"})
        assert root is not None
        if texted:
            assert "texted a secure payment link" in says(root) and root.find("Dial") is None
            [link] = replies_to(bot, phone, count)
            assert "/pay/cs_test_" in link and "a debt collector" in link and link.endswith("Reply STOP to opt out.")
        else:
            assert "put you through" in says(root) and root.find("Dial") is not None, says(root)
            time.sleep(1)
            assert [m for m in fake(bot, "/fake/messages")[count:] if m["to"] == phone] == []
            queue = HandoffQueue(redis_from_env(bot.env), bot.env["DATABASE_URL"])
            ticket_id = queue.open_ticket_id(phone)
            assert ticket_id is not None and queue.get(ticket_id).reason == "payment_by_phone"  # type: ignore[union-attr]
            queue.close(ticket_id, "sue", "other", supervisor=True)


def test_a_regular_amount_read_as_promise_or_plan_is_answered_as_an_offer_not_a_question(
    bot: Bot, db_session: Any
) -> None:
    """ "can i do 40 every other friday" read as a promise (0.51) or a plan (0.48) got "did you
    mean" before it was understood: both readings are an offer of instalments."""
    account = _account(db_session, "A-5070")  # an account no other test uses
    sender = account.debtor.phone_e164
    _verify(bot, sender, account)
    reply = joined([bot.say(sender, "can i do 40 every other friday")])
    assert "Did you mean" not in reply and "Just to check" not in reply, reply
    assert "every-two-weeks payments" in reply and "$40.00" in reply, reply


def test_a_thumbs_up_confirms_and_a_yes_after_emoji_is_never_read_as_abuse(bot: Bot, db_session: Any) -> None:
    """The new-user trial: "😭😭🙏" got "I can't read emoji", then "yes" picked the hidden choice
    "abusive" and opened an abuse ticket; a "👍" to "Is that right?" was not read as yes, and the
    promise was lost."""
    account = _account(db_session, "A-5036")  # an account no other test uses
    sender = account.debtor.phone_e164
    _verify(bot, sender, account)
    asked = joined([bot.say(sender, "😭😭🙏")])
    assert "emoji" in asked, asked
    after = joined([bot.say(sender, "yes")])
    assert "few words" in after and "frustrating" not in after and "member of our team" not in after, after
    confirm = joined([bot.say(sender, "i can pay 50 on friday")])
    assert "Is that right" in confirm or "confirm" in confirm.lower(), confirm
    done = joined([bot.say(sender, "👍")])
    assert "emoji" not in done, done
    db_session.expire_all()
    promises = db_session.execute(select(db.PromiseToPay).where(db.PromiseToPay.account_id == "A-5036")).scalars().all()
    assert [p.amount_minor for p in promises] == [5000], done
    events = db_session.execute(select(db.ContactLog.event).where(db.ContactLog.account_id == "A-5036")).scalars().all()
    assert "abuse" not in events


def test_how_do_i_pay_after_an_arrangement_links_its_next_instalment_not_the_balance(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5037")  # an account no other test uses
    sender = account.debtor.phone_e164
    _verify(bot, sender, account)
    bot.say(sender, "can i do 40 every other friday")
    done = joined([bot.say(sender, "yes")])
    assert "ARR-" in done, done
    first = re.search(r"Payments:\n- [^:]+: (\$[\d,.]+)", done)
    assert first is not None, done
    reply = joined([bot.say(sender, "how do i pay")])
    assert "/pay/cs_test_" in reply and f"pay {first.group(1)} now" in reply, (done, reply)
    assert account.balance.format("en_US") not in reply, reply
