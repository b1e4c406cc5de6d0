"""Repayment plans in conversation: I&E, affordable options, counter-offers, SCRA, UK token
payments, arrangements in the system of record, and a missed promise reopening the talk."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot import db
from bot.extraction import today_in
from bot.money import Money
from bot.repayment.arrangements import option_from_dict
from tests.conftest import Bot
from tests.conversation.helpers import joined, slot_values, tracker_events


def _verify(bot: Bot, sender: str, dob: str, factor: str) -> None:
    bot.say(sender, "hi")
    bot.say(sender, dob)
    assert "confirmed" in joined([bot.say(sender, factor)])


def _offered(redis_port: int, sender: str) -> list[Any]:
    """The options on the table after the latest offer."""
    values = [v for v in slot_values(tracker_events(redis_port, sender), "plan_options") if v]
    assert values, "no plan options were offered"
    return [option_from_dict(o) for o in values[-1]]


def _arrangements(db_session: Any, account_id: str) -> list[db.Arrangement]:
    db_session.expire_all()
    query = select(db.Arrangement).where(db.Arrangement.account_id == account_id).order_by(db.Arrangement.id)
    return list(db_session.execute(query).scalars())


def test_job_loss_debtor_with_ie_gets_only_affordable_options(bot: Bot, redis_server: Any, db_session: Any) -> None:
    sender = "+14155550110"  # A-5019, US-CA, balance 7,548.51, 25 DPD
    _verify(bot, sender, "April 13 1989", "90012")
    assert "sorry" in joined([bot.say(sender, "i lost my job last month")]).lower()
    assert "comes in each month" in joined([bot.say(sender, "can i set up a payment plan")])
    assert "outgoings" in joined([bot.say(sender, "about 2.5k a month from my partner and benefits")])
    reply = joined([bot.say(sender, "rent is 1200, food 350 and bills 150")])
    assert "$800.00 a month" in reply and "$2,500.00 in" in reply, reply

    options = _offered(redis_server.port, sender)
    assert options and all(o.kind not in ("pay_in_full", "settlement") for o in options)
    for option in options:
        per_period = {"monthly": Decimal(800), "fortnightly": Decimal(800) * 12 / 26, "weekly": Decimal(800) * 12 / 52}
        cap = per_period.get(option.frequency or "monthly", Decimal(800))
        assert all(p.amount.amount <= cap + Decimal("0.01") for p in option.schedule), option

    # a correction re-plans: rent is 1,400, so 600 a month is left
    reply = joined([bot.say(sender, "sorry my rent is actually 1400")])
    assert "$600.00 a month" in reply, reply
    for option in _offered(redis_server.port, sender):
        assert all(p.amount.minor <= 60001 for p in option.schedule if option.frequency == "monthly")

    monthly = next(i for i, o in enumerate(_offered(redis_server.port, sender), 1) if o.frequency == "monthly")
    assert "Shall I set this up?" in joined([bot.say(sender, f"option {monthly}")])
    done = joined([bot.say(sender, "yes")])
    assert "ARR-" in done and "Payments:" in done, done

    [arrangement] = _arrangements(db_session, "A-5019")
    schedule = json.loads(arrangement.schedule)
    assert sum(p["amount_minor"] for p in schedule) == arrangement.total_minor
    assert max(p["amount_minor"] for p in schedule) <= 60001 and arrangement.status == "active"
    promise = db_session.execute(select(db.PromiseToPay).where(db.PromiseToPay.account_id == "A-5019")).scalar_one()
    assert (promise.amount_minor, promise.due_date.isoformat()) == (schedule[0]["amount_minor"], schedule[0]["due"])
    # the balance answer names what is agreed instead of asking for a payment again
    reply = joined([bot.say(sender, "what is my balance")])
    assert f"Your arrangement ARR-{arrangement.id} is in place: the next payment is" in reply, reply
    assert "tell me an amount and a date" not in reply


def test_settlement_below_policy_gets_a_counter_offer(bot: Bot, db_session: Any) -> None:
    # A-1002: 95 DPD, 3,800.00; policy allows at most 40% off in 90+. By account reference: the
    # debtor's phone conversation belongs to another test
    sender = "plans-a1002-settle"
    bot.say(sender, "hi")
    for text in ["A-1002", "November 3 1979"]:
        bot.say(sender, text)
    assert "confirmed" in joined([bot.say(sender, "94110")])
    reply = joined([bot.say(sender, "could i settle for 30% of the balance")])
    assert "can't accept $1,140.00" in reply and "$2,280.00" in reply, reply
    # the one option was read out in full with "reply yes to set it up": one yes sets it up
    done = joined([bot.say(sender, "ok")])
    assert "ARR-" in done and "Shall I set this up?" not in done, done
    [arrangement] = _arrangements(db_session, "A-1002")
    assert (arrangement.kind, arrangement.total_minor, arrangement.discount_minor) == ("settlement", 228000, 152000)


def test_a1002_is_offered_a_settlement_that_a1003_is_not(bot: Bot, redis_server: Any) -> None:
    late = "plans-a1002-web"  # A-1002, 95 DPD, by account reference
    early = "+12125550103"  # A-1003, 12 DPD
    for text in ["hi", "A-1002", "November 3 1979", "94110"]:
        bot.say(late, text)
    _verify(bot, early, "July 21 1990", "98101")
    for sender in (late, early):
        bot.say(sender, "what payment plans do you have")
        bot.say(sender, "i'd rather not say")
    late_kinds = {o.kind for o in _offered(redis_server.port, late)}
    early_kinds = {o.kind for o in _offered(redis_server.port, early)}
    assert "settlement" in late_kinds and "settlement" not in early_kinds, (late_kinds, early_kinds)
    reply = joined([bot.say(early, "can i settle for less than the full amount")])
    assert "reduced settlement isn't available" in reply, reply
    assert "settlement" not in {o.kind for o in _offered(redis_server.port, early)}


def test_military_debtor_gets_the_scra_rate(bot: Bot, redis_server: Any) -> None:
    # A-5022 (US-NY), A-5154 (US-MA); 19.99% APR; both on the default offer policy (a civilian with a
    # hardship on file, such as A-5026, gets the hardship policy, which freezes interest)
    military, civilian = "+12125550111", "+16175550126"
    _verify(bot, military, "June 11 1959", "11201")
    _verify(bot, civilian, "November 14 1988", "01002")
    bot.say(military, "im on active duty in the army and just got deployed overseas")
    offers = {}
    for sender in (military, civilian):
        bot.say(sender, "can we do a payment plan")
        offers[sender] = joined([bot.say(sender, "skip")])
    assert "6.00% a year" in offers[military] and "19.99%" not in offers[military], offers[military]
    assert "19.99% a year" in offers[civilian]
    military_plans = [o for o in _offered(redis_server.port, military) if o.kind == "instalments"]
    civilian_plans = [o for o in _offered(redis_server.port, civilian) if o.kind == "instalments"]
    assert military_plans and all(o.rate == Decimal("0.06") for o in military_plans)
    assert civilian_plans and all(o.rate == Decimal("0.1999") for o in civilian_plans)
    events = tracker_events(redis_server.port, military)
    assert "military" in slot_values(events, "hardship_type")


def test_uk_token_payment_is_accepted_with_debt_advice(bot: Bot, db_session: Any) -> None:
    sender = "+447700900101"  # A-2001, UK, £2,150.00
    _verify(bot, sender, "28/02/1982", "SW1A 1AA")
    bot.say(sender, "i need a payment plan")
    bot.say(sender, "skip")
    reply = joined([bot.say(sender, "i can only afford £5 a month")])
    assert "token payment" in reply and "£5.00" in reply and "MoneyHelper" in reply, reply
    done = joined([bot.say(sender, "yes")])  # one yes to the one option offered
    assert "ARR-" in done and "MoneyHelper" in done and "Shall I set this up?" not in done, done
    [arrangement] = _arrangements(db_session, "A-2001")
    assert arrangement.kind == "reduced_payments" and arrangement.currency == "GBP"
    assert {p["amount_minor"] for p in json.loads(arrangement.schedule)} == {500}


def test_an_offer_below_the_floor_is_explained_and_a_person_offered(bot: Bot, redis_server: Any) -> None:
    sender = "+12065550113"  # A-5027, US-WA, 7,386.22, 130 DPD
    _verify(bot, sender, "February 26 1953", "98052")
    bot.say(sender, "payment plan please")
    bot.say(sender, "skip")
    reply = joined([bot.say(sender, "i can only do 3 a month")])
    # the floor is the offer policy's: the hardship policy's $5.00 once the words count as a hardship
    hardship = [v for v in slot_values(tracker_events(redis_server.port, sender), "hardship_type") if v]
    floor = "$5.00" if hardship and hardship[-1] != "military" else "$10.00"
    assert f"smallest regular payment I can agree is {floor}" in reply and "speak to a person" in reply, reply


def test_a_missed_promise_reopens_the_negotiation(bot: Bot, db_session: Any, redis_server: Any) -> None:
    account = db_session.get(db.Account, "A-5024")  # US-FL, 241.89, 121 DPD
    due = today_in(str(account.time_zone)) - timedelta(days=3)
    promise = db.record_promise(
        db_session,
        account_id="A-5024",
        amount=Money.of("50.00", "USD"),
        due_date=due,
        channel="sms",
        conversation_id="earlier",
    )
    db_session.commit()
    sender = "+13055550111"
    bot.say(sender, "hi")
    bot.say(sender, "March 3 1980")
    reply = joined([bot.say(sender, "33101")])
    assert "$50.00" in reply and "wasn't received" in reply and "Here is what I can offer" in reply, reply
    db_session.expire_all()
    assert db_session.get(db.PromiseToPay, promise.id).status == "broken"
    assert _offered(redis_server.port, sender)


def test_i_lost_my_job_is_a_job_loss_and_leads_to_income_and_expenditure(
    bot: Bot, redis_server: Any, db_session: Any
) -> None:
    # a new-user trial: the bare phrase was read as mental-health vulnerability and handed to a person
    sender = "trial-job-loss-a1001"
    for text in ["A-1001", "April 12 1985"]:
        bot.say(sender, text)
    assert "confirmed" in joined([bot.say(sender, "02139")])
    assert "$1,240.50" in joined([bot.say(sender, "how much do I owe")])
    ack = joined([bot.say(sender, "I lost my job")])
    assert "sorry to hear that" in ack and "member of our team" not in ack, ack
    assert "comes in each month" in joined([bot.say(sender, "payment plan")])

    events = tracker_events(redis_server.port, sender)
    [hardship] = [e["parse_data"]["hardship"] for e in events if e["event"] == "user" and e["text"] == "I lost my job"]
    assert (hardship["type"], hardship["vulnerable"], hardship["vulnerability"]) == ("job_loss", False, None)
    assert True not in slot_values(events, "vulnerable")
    assert "vulnerability" not in slot_values(events, "handoff_reason")
    logged = db_session.execute(
        select(db.ContactLog.detail).where(
            db.ContactLog.conversation_id == sender, db.ContactLog.event == "hardship_disclosed"
        )
    ).scalar_one()
    assert "type=job_loss" in logged and "vulnerability=None" in logged, logged


def test_an_offer_during_income_and_expenditure_is_answered_not_counted(
    bot: Bot, redis_server: Any, db_session: Any
) -> None:
    # a new-user trial: "I can pay 200 on friday" at the income question became an income of 200
    sender = "+12125550113"  # A-5049, US-NY
    _verify(bot, sender, "August 14 1977", "10001")
    assert "comes in each month" in joined([bot.say(sender, "can i set up a payment plan")])
    reply = joined([bot.say(sender, "I can pay 200 on friday")])
    assert "To confirm: you will pay $200.00 on Friday" in reply, reply
    assert "PTP-" in joined([bot.say(sender, "yes")])
    promise = db_session.execute(select(db.PromiseToPay).where(db.PromiseToPay.account_id == "A-5049")).scalar_one()
    assert promise.amount_minor == 20000 and promise.due_date.weekday() == 4
    reply = joined([bot.say(sender, "how much do i owe")])
    assert "You've promised to pay $200.00 on Friday" in reply and f"(PTP-{promise.id})" in reply, reply
    assert slot_values(tracker_events(redis_server.port, sender), "monthly_income") == []

    # "I can afford 100 a month" at the outgoings question is a counter-offer, not 100 of outgoings
    sender = "+16175550115"  # A-5046, US-MA, balance 2,901.05
    _verify(bot, sender, "March 9 2002", "02139")
    bot.say(sender, "payment plan")
    assert "outgoings" in joined([bot.say(sender, "about 2000 a month")])
    reply = joined([bot.say(sender, "I can afford 100 a month")])
    # A-5046 has a hardship on file: its strategy's offer policy (hardship) agrees up to 36 months
    assert "Yes, I can accept $100.00 a time" in reply and "30 monthly payments" in reply, reply
    assert "Reply yes to set up that option" in joined([bot.say(sender, "2")])  # one option: no "1, 2 or 3"
    events = tracker_events(redis_server.port, sender)
    assert slot_values(events, "monthly_outgoings") == [] and slot_values(events, "monthly_income")


def test_a_low_income_is_read_back_before_plans_rest_on_it(bot: Bot, redis_server: Any) -> None:
    # a new-user trial: "2" was taken as $2 a month and the plan went to a person
    sender = "+14155550115"  # A-5048, US-CA
    _verify(bot, sender, "Jan 5 1960", "94110")
    bot.say(sender, "payment plan")
    assert "Just to check: $2.00 a month comes in" in joined([bot.say(sender, "2")])
    assert "outgoings" in joined([bot.say(sender, "sorry I meant 2000")])
    reply = joined([bot.say(sender, "rent 900")])
    assert "$1,100.00 a month" in reply and "$2,000.00 in" in reply, reply


def test_an_answer_with_no_amount_gets_one_reply_that_asks_again(bot: Bot, redis_server: Any) -> None:
    # a new-user trial: "blah blah" got "didn't understand", "didn't catch an amount" and the question
    sender = "+13055550115"  # A-5052, US-FL
    _verify(bot, sender, "Nov 16 2004", "33101")
    bot.say(sender, "payment plan")
    assert bot.say(sender, "blah blah") == [
        "Sorry, I didn't catch an amount. Roughly how much comes in a month? For example 'about 1,800 a month', or 'skip'."
    ]
    assert "outgoings" in joined([bot.say(sender, "about 1900 a month")])
    [again] = bot.say(sender, "yes")
    assert again.startswith("Sorry, I didn't catch an amount. Roughly how much goes out a month?"), again
    # a question in between is answered, then the same question comes back
    reply = joined([bot.say(sender, "how much do i owe")])
    assert "$2,288.29" in reply and "main outgoings each month" in reply, reply
    assert "tell me an amount and a date" not in reply, "two prompts at once"
    assert "$1,400.00 a month" in joined([bot.say(sender, "rent 500")])
