"""Conversation behaviour that protects the debtor: no stale or borrowed values in promises,
lockout across conversations, opt-out that holds, crisis first, goodbye forgets verification."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select

from bot import db
from bot.handoff import HandoffQueue, redis_from_env
from tests.conftest import Bot
from tests.conversation.helpers import joined


def _account(db_session: Any, account_id: str) -> db.Account:
    return db_session.execute(select(db.Account).where(db.Account.id == account_id)).scalar_one()


def _verify(bot: Bot, sender: str, account: db.Account, factor: str) -> None:
    bot.say(sender, "hi")
    bot.say(sender, account.debtor.date_of_birth.strftime("%B %d %Y"))
    assert "confirmed" in joined([bot.say(sender, factor)])


def test_verification_answers_never_become_the_promise(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5001")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, f"last four {account.last_four}")
    reply = joined([bot.say(sender, "i'll pay something on friday")])
    assert "How much can you pay?" in reply
    assert account.last_four not in reply.replace(",", "")
    # a refused amount does not leave a stale date behind a later answer
    bot.say(sender, "deny that, let me think")
    assert "To confirm" not in joined([bot.say(sender, "I can pay 20 yesterday")])


def test_no_at_confirmation_asks_again_once(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5002")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    assert "To confirm" in joined([bot.say(sender, "I can pay 20 on friday")])
    replies = bot.say(sender, "no")
    text = joined([replies])
    assert "didn't catch" not in text
    assert "let's change it" in text and text.count("How much can you pay?") == 1


def test_lockout_holds_for_the_account_across_conversations(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5006")
    sender, dob, factor = account.debtor.phone_e164, account.debtor.date_of_birth, account.debtor.postcode
    replies = [bot.say(sender, "hello")]
    for year in (1931, 1932, 1933):
        replies += [bot.say(sender, dob.replace(year=year).strftime("%B %d %Y")), bot.say(sender, factor)]
    assert "wasn't able to confirm your identity" in joined(replies)

    # from another sender, even the right answers do not verify the locked account; and every
    # reply is the one a reference that matches no account gets, so the lock is not revealed
    def attempts(sender: str, reference: str) -> list[str]:
        said = [joined([bot.say(sender, "hi")])]
        for _ in range(3):
            said += [joined([bot.say(sender, t)]) for t in [reference, dob.strftime("%B %d %Y"), factor]]
        return [*said, joined([bot.say(sender, "what do i owe")])]

    locked = attempts("fresh-sender-guessing-a5006", "A-5006")
    assert not any("confirmed" in r or "days past due" in r for r in locked)
    assert "don't match our records" in locked[3] and "wasn't able to confirm your identity" in locked[9]
    assert locked == attempts("fresh-sender-guessing-a5998", "A-5998")


def test_nothing_said_before_verification_tells_an_account_or_its_country(bot: Bot) -> None:
    """A trial: an unreadable date of birth got an example in the typed reference's date order
    (UK "12 April 1985", China "1985-04-12"), and the lock message the number of that country."""

    def attempts(sender: str, reference: str) -> list[str]:
        said = [joined([bot.say(sender, "hi")])]
        for _ in range(3):
            said += [joined([bot.say(sender, t)]) for t in [reference, "banana", "1 January 1970", "SW1A 1AA"]]
        return said

    uk, china = attempts("probe-uk-a5050", "A-5050"), attempts("probe-cn-a5051", "A-5051")
    assert "12 April 1985" in uk[2] and "wasn't able to confirm your identity" in uk[-1]
    assert uk == china == attempts("probe-none-a5997", "A-5997")


def test_opt_out_holds_until_start(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5003")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    # "texting" would name SMS, which this REST conversation is not (12 CFR 1006.14(h)): no channel named here
    assert "won't receive further messages" in joined([bot.say(sender, "stop messaging me")])
    after = joined([bot.say(sender, "how much do i owe")])
    assert (
        "opted out" in after and account.balance.format("en_GB" if account.currency == "GBP" else "en_US") not in after
    )
    assert "receive messages from us on this channel again" in joined([bot.say(sender, "START")])
    rows = db_session.execute(select(db.OptOut).where(db.OptOut.account_id == "A-5003")).scalars().all()
    assert rows == []


def test_crisis_inside_verification_is_answered_first(bot: Bot, db_session: Any) -> None:
    sender = "+447700900015"  # A-5031, UK
    bot.say(sender, "hi")
    reply = joined([bot.say(sender, "i cant do this anymore i want to end my life")])
    assert "Samaritans" in reply and "116 123" in reply
    assert "date of birth" not in reply
    events = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5031")).scalars()
    ]
    assert "handoff_crisis" in events


def test_dispute_inside_the_promise_form_is_recorded(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5004")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    assert "How much can you pay?" in joined([bot.say(sender, "i want to make a payment")])
    reply = joined([bot.say(sender, "actually this is not my debt, i dispute it")])
    assert "dispute" in reply
    assert "Validation information" in reply and account.last_four in reply
    events = [
        r.event for r in db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5004")).scalars()
    ]
    assert "dispute" in events


def test_goodbye_forgets_verification(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5005")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    bot.say(sender, "ok thanks bye")
    reply = joined([bot.say(sender, "how much do i owe")])
    assert "days past due" not in reply and "date of birth" in reply


def test_uk_debtor_gets_uk_dates_and_numbers(bot: Bot) -> None:
    sender = "uk-webchat-style-sender"
    for text in ["hi", "A-2001", "28/02/1982", "SW1A 1AA"]:
        bot.say(sender, text)
    reply = joined([bot.say(sender, "i can pay £100 on 4/12")])
    today = datetime.now(ZoneInfo("Europe/London")).date()
    due = today.replace(month=12, day=4)
    if due < today:
        due = due.replace(year=due.year + 1)
    if due - today <= timedelta(days=30):
        assert f"£100.00 on {format_date(due, format='full', locale='en_GB')}" in reply, reply
    else:
        assert "within 30 days" in reply, reply
    assert "0800 555 0199" in joined([bot.say(sender, "how can i pay")])


def test_no_collection_after_crisis_or_attorney(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5008")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    bot.say(sender, "i cant go on anymore")
    after = joined(
        [bot.say(sender, "how much do i owe"), bot.say(sender, "i can pay 100 on friday"), bot.say(sender, "yes")]
    )
    assert "days past due" not in after and "recorded" not in after and "To confirm" not in after
    # the conversation now waits for a person (bot/handoff.py): the bot adds nothing about payments
    assert HandoffQueue(redis_from_env(bot.env)).is_paused(sender)

    account = _account(db_session, "A-5009")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    bot.say(sender, "i have an attorney handling this, contact them")
    after = joined([bot.say(sender, "whats my balance"), bot.say(sender, "i can pay 50 friday")])
    assert "days past due" not in after and "To confirm" not in after
    assert HandoffQueue(redis_from_env(bot.env)).is_paused(sender)
    promises = (
        db_session.execute(select(db.PromiseToPay).where(db.PromiseToPay.account_id.in_(["A-5008", "A-5009"])))
        .scalars()
        .all()
    )
    assert promises == []


def test_opt_out_carries_into_a_new_conversation(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5010")
    phone = account.debtor.phone_e164
    assert "won't receive further messages" in joined([bot.say(phone, "stop")])
    formatted = f"+1 ({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if phone.startswith("+1") else phone + " "
    reply = joined([bot.say(formatted, "hi")])
    assert "opted out" in reply and "date of birth" not in reply


def test_huge_numbers_and_hardship_read_as_goodbye(bot: Bot, db_session: Any) -> None:
    assert bot.say("huge-number-sender", "i can pay 10000000000000000000000000000 dollars")
    account = _account(db_session, "A-5011")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    reply = joined([bot.say(sender, "i have cancer")])
    assert "Goodbye" not in reply and ("sorry to hear" in reply or "Thank you for letting me know" in reply), reply


def test_never_mind_leaves_the_promise_questions(bot: Bot, db_session: Any) -> None:
    account = _account(db_session, "A-5017")
    sender = account.debtor.phone_e164
    _verify(bot, sender, account, account.debtor.postcode)
    assert "How much can you pay?" in joined([bot.say(sender, "i want to make a payment")])
    reply = joined([bot.say(sender, "no never mind, i dont want to do that")])
    assert "haven't set up any payment" in reply and "How much can you pay?" not in reply
