"""How real debtors talk, through the real Rasa server and action server: a hardship told inside
a request is heard and recorded and the request answered. Every message here was written for
these tests (none comes from an evaluation set)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import db
from tests.conftest import Bot
from tests.conversation.helpers import joined, slot_values, tracker_events


def _account(db_session: Any, account_id: str) -> db.Account:
    return db_session.execute(select(db.Account).where(db.Account.id == account_id)).scalar_one()


def _verify(bot: Bot, account: db.Account) -> str:
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")
    bot.say(sender, account.debtor.date_of_birth.strftime("%B %d %Y"))
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])
    return sender


def _log(db_session: Any, account_id: str, event: str) -> list[str | None]:
    db_session.expire_all()
    query = select(db.ContactLog).where(db.ContactLog.account_id == account_id, db.ContactLog.event == event)
    return [r.detail for r in db_session.execute(query).scalars()]


def test_a_hardship_inside_a_plan_request_is_heard_then_the_plan_questions_follow(
    bot: Bot, db_session: Any, redis_server: Any
) -> None:
    account = _account(db_session, "A-5067")
    sender = _verify(bot, account)
    replies = bot.say(
        sender, "they cut my shifts at the depot so money is really tight, could we do smaller monthly payments"
    )
    assert replies[0].startswith("I'm sorry to hear that"), replies
    assert "comes in each month" in joined([replies[1:]]), replies  # the plan's I&E questions begin
    assert [d for d in _log(db_session, account.id, "hardship_disclosed") if d and "reduced_income" in d]
    assert "reduced_income" in slot_values(tracker_events(redis_server.port, sender), "hardship_type")
    # told once: the answers that follow are not met with sympathy again
    again = bot.say(sender, "about 1900 a month now that my hours went down")
    assert not any(r.startswith("I'm sorry to hear that") for r in again), again
