"""What a collector sees: the ticket summary with every offer, the debtor's own offer and the
arrangement agreed; the account page with its arrangements (schedule, status) and promises;
queue waits in words. Against the session's real Redis, database and console app."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from bot import db
from bot.handoff import HandoffQueue, build_summary
from bot.money import Money
from bot.repayment.arrangements import option_to_dict, record_arrangement
from bot.repayment.plans import Payment, PlanOption
from tests.conftest import Bot
from tests.console.conftest import Collector

ACCOUNT = "A-5021"  # this file's own accounts: arrangements are recorded on them
CONVERSATION_ACCOUNT = "A-5025"


def _option(payments: int, each: int, first: date) -> PlanOption:
    return PlanOption(
        kind="instalments",
        schedule=tuple(Payment(first + timedelta(days=30 * i), Money(each, "USD")) for i in range(payments)),
        total=Money(each * payments, "USD"),
        discount=Money(0, "USD"),
        interest=Money(0, "USD"),
        reason="affordable",
        frequency="monthly",
    )


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_ticket_and_account_pages_show_offers_the_arrangement_and_promises(
    queue: HandoffQueue, collectors: dict[str, Collector], database_url: str
) -> None:
    first = db.utcnow().date() + timedelta(days=7)
    offered = [_option(2, 150_00, first), _option(3, 100_00, first), _option(6, 50_00, first)]
    countered = _option(5, 60_00, first)
    with db.session_scope(database_url) as session:
        arrangement, promise = record_arrangement(
            session, account_id=ACCOUNT, option=countered, channel="sms", conversation_id="+15550105021"
        )
        arrangement_id, promise_id = int(arrangement.id), int(promise.id) if promise else None
    assert promise_id is not None
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "can I pay it off monthly", "timestamp": 1_700_000_000.0},
        {"event": "action", "name": "action_offer_plans"},
        {"event": "slot", "name": "plan_options", "value": [option_to_dict(o) for o in offered]},
        {"event": "user", "text": "I could only do 60 a month", "timestamp": 1_700_000_010.0},
        {"event": "action", "name": "action_select_plan"},
        {"event": "slot", "name": "plan_options", "value": [option_to_dict(countered)]},
        {"event": "user", "text": "yes", "timestamp": 1_700_000_020.0},
        {"event": "action", "name": "action_record_arrangement"},
        {"event": "slot", "name": "arrangement_id", "value": str(arrangement_id)},
        {"event": "slot", "name": "plan_options", "value": None},
        {"event": "user", "text": "I'd like to talk to a person", "timestamp": 1_700_000_030.0},
    ]
    slots = {"identity_verified": True, "plan_options": None, "arrangement_id": str(arrangement_id)}
    ticket, _ = queue.open(
        conversation_id=f"test-{uuid.uuid4().hex[:10]}",
        channel="sms",
        reason="requested",
        account_id=ACCOUNT,
        summary=build_summary(events, slots, [f"PTP-{promise_id}"]),
    )
    ava = collectors["ava"]
    try:
        page = ava.client.get(f"/tickets/{ticket.id}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        offers = _text(re.search(r'id="offers-made">(.*?)</dd>', html, re.S).group(1))  # type: ignore[union-attr]
        assert "none" not in offers
        assert offers.count("instalments (monthly)") == 4, offers
        assert "5 payments, total $300.00" in offers
        assert "I could only do 60 a month" in _text(html)
        shown = _text(re.search(r'id="arrangement">(.*?)</dd>', html, re.S).group(1))  # type: ignore[union-attr]
        assert f"ARR-{arrangement_id}" in shown and "active" in shown and "total $300.00" in shown
        assert f"{first.isoformat()}: $60.00" in shown and shown.count("$60.00") == 5
        assert f"ARR-{arrangement_id} instalments (monthly), $300.00 (active)" in _text(html)  # account panel

        account = ava.client.get(f"/accounts/{ACCOUNT}")
        assert account.status_code == 200
        text = _text(account.get_data(as_text=True))
        assert f"ARR-{arrangement_id} instalments (monthly) · active · total $300.00" in text
        assert f"{(first + timedelta(days=120)).isoformat()}: $60.00" in text
        assert f"PTP-{promise_id} $60.00 {first.isoformat()} open" in text
    finally:
        queue.close(ticket.id, "ava", "other", supervisor=True)


def test_queue_waits_are_said_in_words_from_the_opening_time(
    queue: HandoffQueue, collectors: dict[str, Collector]
) -> None:
    now = db.utcnow()
    opened = {}
    for label, age in (("just now", timedelta(seconds=20)), ("2 h 5 min", timedelta(hours=2, minutes=5, seconds=9))):
        ticket, _ = queue.open(
            conversation_id=f"test-{uuid.uuid4().hex[:10]}",
            channel="sms",
            reason="requested",
            account_id=None,
            summary={"verification": "not verified", "last_messages": []},
            now=now - age,
        )
        opened[ticket.id] = label
    ava = collectors["ava"]
    try:
        html = ava.client.get("/").get_data(as_text=True)
        for ticket_id, label in opened.items():
            row = re.search(rf'data-ticket="{ticket_id}">(.*?)</tr>', html, re.S)
            assert row, html
            assert f">{label}</td>" in row.group(1), row.group(1)
        waiting = {t["id"]: t["wait_seconds"] for t in ava.get("/api/queue")[1]["waiting"]}
        assert all(waiting[i] >= (7509 if label != "just now" else 20) for i, label in opened.items())
        sue = collectors["sue"].client.get("/supervisor").get_data(as_text=True)
        assert "2 h 5 min" in sue and " min</a>" not in sue.replace("5 min</a>", "")
    finally:
        for ticket_id in opened:
            queue.close(ticket_id, "ava", "other", supervisor=True)


def test_a_ticket_after_plans_a_counter_offer_and_an_arrangement_says_so(
    bot: Bot, queue: HandoffQueue, collectors: dict[str, Collector], db_session: Any
) -> None:
    """The tryout's path in a real conversation: three plans offered, the debtor's own offer
    answered, that plan agreed, then a request for a person. The ticket lists every offer, the
    debtor's offer and the arrangement; the account page shows the arrangement and its promise."""
    from sqlalchemy import select

    from tests.conversation.helpers import joined

    account = db_session.execute(select(db.Account).where(db.Account.id == CONVERSATION_ACCOUNT)).scalar_one()
    sender = account.debtor.phone_e164
    bot.say(sender, "hi")
    bot.say(sender, account.debtor.date_of_birth.strftime("%B %d %Y"))
    assert "confirmed" in joined([bot.say(sender, account.debtor.postcode)])
    said = [bot.say(sender, "can i set up a payment plan")]
    said.append(bot.say(sender, "about 2500 a month"))
    said.append(bot.say(sender, "rent is 1200, food 350 and bills 150"))
    counter = bot.say(sender, "I can only do 150 a month")
    said.append(counter)
    said.append(bot.say(sender, "option 1"))
    said.append(bot.say(sender, "yes"))
    done = joined([said[-1]])
    assert "ARR-" in done, joined(said)
    reference = done.split("ARR-")[1].split()[0].strip(".,")
    said.append(bot.say(sender, "I'd like to talk to a real person please"))
    ticket_id = queue.open_ticket_id(sender)
    assert ticket_id is not None, joined(said)
    ava = collectors["ava"]
    try:
        html = ava.client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
        offers = _text(re.search(r'id="offers-made">(.*?)</dd>', html, re.S).group(1))  # type: ignore[union-attr]
        assert offers != "none" and offers.count("total $") >= 2, offers  # the plans and the answer to the offer
        assert "I can only do 150 a month" in _text(html)
        shown = _text(re.search(r'id="arrangement">(.*?)</dd>', html, re.S).group(1))  # type: ignore[union-attr]
        assert f"ARR-{reference}" in shown and "active" in shown, shown
        page = _text(ava.client.get(f"/accounts/{CONVERSATION_ACCOUNT}").get_data(as_text=True))
        assert f"ARR-{reference}" in page and "PTP-" in page and " open " in page, page
    finally:
        queue.close(ticket_id, "ava", "other", supervisor=True)


def test_the_account_panels_show_the_channels_the_debtor_opted_out_of(
    queue: HandoffQueue, collectors: dict[str, Collector], database_url: str
) -> None:
    from bot.compliance.optout import record_opt_out

    account_id = "A-5061"  # this test's own account: an opt-out is recorded on it
    with db.session_scope(database_url) as session:
        phone = str(session.get(db.Account, account_id).debtor.phone_e164)  # type: ignore[union-attr]
    ticket, _ = queue.open(
        conversation_id=phone,
        channel="sms",
        reason="requested",
        account_id=account_id,
        summary={"verification": "verified", "last_messages": []},
    )
    ava = collectors["ava"]
    try:
        before = _text(ava.client.get(f"/tickets/{ticket.id}").get_data(as_text=True))
        assert "Opted out none" in before, before
        with db.session_scope(database_url) as session:
            record_opt_out(
                session,
                address=phone,
                channel="sms",
                account_id=account_id,
                actor="debtor",
                conversation_id=phone,
                wording="STOP",
            )
        today = db.utcnow().date().isoformat()
        # an opt-out is not a hold: the summary's Hold line says none, the account panel says what stopped
        ticket_page = _text(ava.client.get(f"/tickets/{ticket.id}").get_data(as_text=True))
        assert f"Opted out sms since {today}" in ticket_page, ticket_page
        account_page = _text(ava.client.get(f"/accounts/{account_id}").get_data(as_text=True))
        assert f"Opted out sms since {today}" in account_page, account_page
    finally:
        queue.close(ticket.id, "ava", "other", supervisor=True)
        with db.session_scope(database_url) as session:
            session.query(db.OptOut).filter_by(address=phone).delete()
