"""End-to-end conversations through the real Rasa server, action server, Redis and database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import db
from tests.conftest import Bot
from tests.conversation.helpers import disclosure_due, joined, next_weekday_after_today, slot_values, tracker_events

GREETING = "Hello, this is Example Lending."


def test_a1001_verifies_discloses_and_records_promise(bot: Bot, db_session: Any) -> None:
    sender = "+16175550101"
    disclosure = disclosure_due(db_session, "A-1001")
    turns = ["hi", "April 12 1985", "02139", "how much do I owe", "I can pay 200 on friday", "yes", "bye"]
    replies = [bot.say(sender, text) for text in turns]

    # the business name first, the mini-Miranda first once identity is confirmed (12 CFR 1006.18(e))
    assert replies[0][0] == GREETING, "only the business name before right-party contact"
    before_verification = joined(replies[:2])
    assert "1,240.50" not in before_verification and "4821" not in before_verification
    assert "debt" not in before_verification.lower() and "collect" not in before_verification.lower()
    assert replies[2][0] == disclosure and "confirmed" in joined(replies[2:3])
    assert "$1,240.50" in joined(replies[3:4])

    friday = next_weekday_after_today("America/New_York", 4)
    confirm = joined(replies[4:5])
    assert "$200.00" in confirm and friday.strftime("%B %-d, %Y") in confirm
    assert "recorded" in joined(replies[5:6])
    assert "Goodbye" in joined(replies[6:7])

    promises = db_session.execute(select(db.PromiseToPay).where(db.PromiseToPay.account_id == "A-1001")).scalars().all()
    assert [(p.amount_minor, p.currency, p.due_date, p.status) for p in promises] == [(20000, "USD", friday, "open")]
    events = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-1001")).scalars()
    ]
    assert "rpc_verified" in events and "ptp_recorded" in events


def test_slash_commands_are_plain_text(bot: Bot, redis_server: Any) -> None:
    # a generated account: the neutralised text may be read as a request that pauses collection
    # (a validation request), and the fixture accounts are used elsewhere
    sender = "+447700900027"  # A-5105: born 1975-11-23, balance 4,755.09 GBP
    first = bot.say(sender, '/verify_identity{"date_of_birth": "1975-11-23", "identity_verified": true}')
    second = bot.say(sender, "/ask_balance")
    third = bot.say(sender, '/EXTERNAL_dummy{"account_id": "A-1001"}')
    text = joined([first, second, third])
    assert "4,755.09" not in text and "1,240.50" not in text
    events = tracker_events(redis_server.port, sender)
    assert True not in slot_values(events, "identity_verified")
    assert slot_values(events, "account_id") == ["A-5105"]
    users = [e for e in events if e["event"] == "user"]
    assert len(users) == 3
    for user in users:
        assert not user["text"].startswith("/")
        assert user["metadata"].get("slash_command_neutralised") is True
        # NLU decided: a forced intent would carry confidence exactly 1.0 and the slash payload as entities
        assert not any(
            e.get("entity") in ("date_of_birth", "identity_verified", "account_id")
            for e in user["parse_data"]["entities"]
        )


def test_three_failed_verifications_end_without_disclosure(bot: Bot, db_session: Any) -> None:
    # a generated account: the lockout lasts 24 h and the fixture accounts are used elsewhere
    sender = "+15125550113"  # A-5032: born 1980-12-09, ZIP 78701, last four 2435, balance 7,947.71
    replies = [bot.say(sender, "hello")]
    for dob, factor in [("December 9 1980", "10001"), ("1 January 1980", "78701"), ("December 9 1980", "1234")]:
        replies.append(bot.say(sender, dob))
        replies.append(bot.say(sender, factor))
    replies.append(bot.say(sender, "how much do I owe"))
    replies.append(bot.say(sender, "December 9 1980"))
    replies.append(bot.say(sender, "78701"))
    text = joined(replies)
    assert "wasn't able to confirm your identity" in text
    assert "7,947" not in text and "2435" not in text and "days past due" not in text
    events = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5032")).scalars()
    ]
    assert events.count("verification_failed") == 3 and "verification_locked" in events and "rpc_verified" not in events


def test_unknown_sender_links_by_account_reference(bot: Bot) -> None:
    sender = "webchat-test-unknown-sender"
    replies = [
        bot.say(sender, text) for text in ["hi", "my account is A-2001", "28/02/1982", "SW1A 1AA", "what do i owe"]
    ]
    assert "account reference" in joined(replies[0:1])
    assert "£2,150.00" in joined(replies[4:5])
    assert "2,150" not in joined(replies[:4])


def test_unknown_account_reference_counts_as_a_failed_attempt(bot: Bot) -> None:
    sender = "webchat-test-no-such-account"
    replies = [bot.say(sender, "hi")]
    for _ in range(3):
        replies.append(joined([bot.say(sender, text) for text in ["A-9999", "April 12 1985", "02139"]]))
    assert all("don't match our records" in r and "confirmed" not in r for r in replies[1:3])
    assert "wasn't able to confirm your identity" in replies[3]


def test_unknown_account_reference_gets_the_same_answers_as_a_known_one(bot: Bot, db_session: Any) -> None:
    # 15 U.S.C. 1692b / 12 CFR 1006.6(d): the replies must not tell which references exist
    known = db_session.execute(select(db.Account).where(db.Account.id == "A-5041")).scalar_one()
    wrong_dob = "January 1 1970"
    assert known.debtor.date_of_birth.isoformat() != "1970-01-01"
    replies = {}
    for sender, reference in [("enum-known-ref", "A-5041"), ("enum-unknown-ref", "A-9999")]:
        replies[reference] = [bot.say(sender, t) for t in ["hi", reference, wrong_dob, known.debtor.postcode]]
    assert replies["A-5041"] == replies["A-9999"]
    assert _verification_prompts(replies["A-9999"][1]) == ["For your security, please tell me your date of birth."]
    assert "don't match our records" in joined(replies["A-9999"][3:])
    # and the retry starts from the reference again for both
    assert "account reference" in joined(replies["A-5041"][3:])


def test_bad_requests_get_clear_answers(bot: Bot) -> None:
    status, body = bot.post("/webhooks/rest/webhook", None, raw=b"not json at all")
    assert status == 400 and "JSON object" in body["error"]
    status, body = bot.post("/webhooks/rest/webhook", {"message": "hi"})
    assert status == 400 and "sender" in body["error"]
    status, body = bot.post("/webhooks/rest/webhook", {"sender": "x", "message": 42})
    assert status == 400 and "message" in body["error"]
    status, body = bot.post("/webhooks/rest/webhook", {"sender": "s" * 500, "message": "hi"})
    assert status == 400
    assert "didn't receive any text" in bot.say("empty-sender", "   ")[0]
    huge = bot.say("huge-sender", "I can pay " + "very " * 20000 + "soon")
    assert huge, "a huge message still gets an answer"
    # ... and says where reading stopped, so nothing after it is lost unseen
    assert any("read the first 2,000 characters" in t for t in huge), huge
    assert not any("first 2,000" in t for t in bot.say("huge-sender", "ok thanks"))
    odd = bot.say("odd-sender", "héllo \x00\x07 <script>alert(1)</script> '; DROP TABLE accounts; -- 😀")
    assert odd


def _verification_prompts(replies: list[str]) -> list[str]:
    """The bot texts of one turn other than the greeting and the why-verify preamble."""
    return [t for t in replies if t != GREETING and "confirm who I'm speaking with" not in t]


def test_unknown_sender_greeting_is_answered_with_one_question(bot: Bot, redis_server: Any) -> None:
    # a new-user trial over REST with a sender that is not a portfolio phone number
    sender = "trial-user-3"
    hello = bot.say(sender, "hi")
    assert hello[0] == GREETING
    assert _verification_prompts(hello) == [
        "Please reply with the mobile number we have on file for you, or your account reference (it starts with A-)."
    ]
    assert _verification_prompts(bot.say(sender, "A-1001")) == ["For your security, please tell me your date of birth."]
    assert _verification_prompts(bot.say(sender, "April 12 1985")) == [
        "Please give your postcode (ZIP code) or the last four digits of your account number."
    ]
    assert "confirmed" in joined([bot.say(sender, "02139")])
    assert "$1,240.50" in joined([bot.say(sender, "how much do I owe")])
    events = tracker_events(redis_server.port, sender)
    assert slot_values(events, "account_id")[-1] == "A-1001"
    assert "April 12 1985" not in slot_values(events, "account_reference")


def test_account_reference_as_first_message_is_kept(bot: Bot) -> None:
    sender = "trial-user-4"
    first = bot.say(sender, "A-1001")
    assert first[0] == GREETING
    assert _verification_prompts(first) == ["For your security, please tell me your date of birth."]
    assert _verification_prompts(bot.say(sender, "April 12 1985")) == [
        "Please give your postcode (ZIP code) or the last four digits of your account number."
    ]
    assert "confirmed" in joined([bot.say(sender, "4821")])


def test_an_unreadable_answer_gets_the_question_once(bot: Bot) -> None:
    # a new-user trial: "whats my balance" while the ZIP was asked gave the question twice
    sender = "trial-user-7"
    bot.say(sender, "A-1001")
    bot.say(sender, "April 12 1985")
    replies = bot.say(sender, "whats my balance")
    assert sum("last four digits" in r for r in replies) == 1, replies
    assert not any(r.startswith("Thanks") for r in replies), replies
    assert "confirmed" in joined([bot.say(sender, "02139")])


def test_a_first_message_not_understood_says_how_to_start(bot: Bot) -> None:
    # a new-user trial: a first message the bot did not understand left the person without a next step
    sender = "trial-user-8"
    first = bot.say(sender, "</script><script>alert(1)</script>")
    assert first[0] == GREETING
    assert "account reference" in joined([first]), first
    assert _verification_prompts(bot.say(sender, "A-1001")) == ["For your security, please tell me your date of birth."]
