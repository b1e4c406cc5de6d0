"""Asking instead of guessing, through the real Rasa server and action server: an act read with
too little confidence is confirmed before anything is recorded against the account, and a yes or
no decides it. The first message's reading is put into the conversation through Rasa's HTTP API
(what the model makes of a given sentence changes with the model; the dialogue is under test)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import db
from bot.clarification import clarification_rules
from tests.conftest import Bot


def _unsure(bot: Bot, sender: str, text: str, intent: str) -> list[str]:
    """Append ``text`` read as ``intent`` just below the act threshold, then let the bot act."""
    token = bot.env["RASA_API_TOKEN"]
    confidence = round(clarification_rules().act_threshold - 0.2, 2)
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": [],
    }
    event = {"event": "user", "text": text, "parse_data": parse, "input_channel": "rest"}
    status, _ = bot.post(f"/conversations/{sender}/tracker/events?token={token}", event)
    assert status == 200
    status, prediction = bot.post(f"/conversations/{sender}/predict?token={token}", {})
    assert status == 200
    chosen = max(prediction["scores"], key=lambda s: s["score"])
    assert (chosen["action"], prediction["policy"].rsplit(".", 1)[-1]) == (
        "action_ask_clarification",
        "SafetyPolicy",
    ), prediction["policy"]
    status, answer = bot.post(f"/conversations/{sender}/execute?token={token}", {"name": chosen["action"]})
    assert status == 200
    # the API runs the one action; the policies would then listen (tests/unit/policies cover that)
    listen = {"event": "action", "name": "action_listen"}
    assert bot.post(f"/conversations/{sender}/tracker/events?token={token}", listen)[0] == 200
    return [m.get("text", "") for m in answer["messages"]]


def _events(db_session: Any, account_id: str) -> list[str]:
    db_session.expire_all()
    rows = db_session.execute(select(db.ContactLog).where(db.ContactLog.account_id == account_id)).scalars()
    return [r.event for r in rows]


def test_an_unsure_dispute_is_confirmed_then_recorded_on_yes(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5062")).scalar_one()
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")
    asked = _unsure(bot, sender, "hmm i dont think i owe all of that", "dispute_debt")
    assert asked == ["Just to check: you dispute this debt? Please reply yes or no."]
    assert "dispute" not in _events(db_session, account.id), "nothing is recorded before the yes"
    replies = " ".join(bot.say(sender, "yes"))
    # before identity is confirmed the reply names no debt (12 CFR 1006.6(d)); the dispute is recorded all the same
    assert "Thank you, I've noted that." in replies
    assert "dispute" in _events(db_session, account.id)


def test_an_unsure_opt_out_answered_no_stops_nothing(bot: Bot, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5064")).scalar_one()
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")
    asked = _unsure(bot, sender, "never mind, forget it", "opt_out")
    assert asked == ["Just to check: you want us to stop contacting you on this channel? Please reply yes or no."]
    replies = bot.say(sender, "no")  # asked while the identity questions were under way
    assert replies == ["OK, I haven't done anything with that. When you're ready, please answer my last question."]
    # the "no" was not taken as the date of birth: the next answer is
    dob = account.debtor.date_of_birth.strftime("%B %d %Y")
    assert "postcode" in " ".join(bot.say(sender, dob)).lower()
    db_session.expire_all()
    assert db_session.execute(select(db.OptOut).where(db.OptOut.address == sender)).first() is None
    assert "opt_out" not in _events(db_session, account.id)
