"""An account with nothing owing gets no plan: no options, no arrangement, and the bot says so."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.plans import ActionOfferPlans, ActionRecordArrangement
from bot import db
from bot.money import Money
from bot.repayment.arrangements import option_to_dict, record_arrangement
from bot.repayment.plans import PlanRequest, propose

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize("jurisdiction", ["US-MA", "UK", "CN"])
@pytest.mark.parametrize("hardship", [None, "job_loss"])
def test_no_options_for_a_zero_balance(jurisdiction: str, hardship: str | None) -> None:
    currency = {"US-MA": "USD", "UK": "GBP", "CN": "CNY"}[jurisdiction]
    request = PlanRequest(
        Money(0, currency), 45, jurisdiction, TODAY, hardship_type=hardship, hardship_duration="temporary"
    )
    assert propose(request) == []


@pytest.fixture
def paid_off(portfolio_database: str) -> str:
    """A-1003 with its balance paid off, in a fresh database the actions use."""
    with db.session_scope(portfolio_database) as session:
        account = session.get(db.Account, "A-1003")
        assert account is not None
        account.balance_minor = 0
    return portfolio_database


def _arrangements(url: str) -> int:
    with db.session_scope(url) as session:
        return int(session.execute(select(func.count()).select_from(db.Arrangement)).scalar_one())


def _tracker(slots: dict[str, Any], text: str, intent: str) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": []}
    user = {"event": "user", "text": text, "parse_data": latest}
    return Tracker("+16175550103", slots, latest, [user], False, None, {}, "action_listen")


def test_the_bot_says_nothing_is_owed_instead_of_offering_plans(paid_off: str) -> None:
    dispatcher = CollectingDispatcher()
    tracker = _tracker(
        {"account_id": "A-1003", "identity_verified": True}, "can I get a payment plan", "request_payment_plan"
    )
    events = asyncio.run(ActionOfferPlans().run(dispatcher, tracker, {}))
    assert [m.get("response") for m in dispatcher.messages] == ["utter_nothing_owed"]
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots.get("plan_options") is None and slots.get("plan_stage") is None


def test_no_arrangement_is_recorded_for_a_zero_balance(paid_off: str) -> None:
    # a plan offered while something was owed, confirmed after the account was paid off
    option = propose(PlanRequest(Money(56000, "USD"), 45, "US-NY", TODAY))[-1]
    dispatcher = CollectingDispatcher()
    slots = {"account_id": "A-1003", "identity_verified": True, "selected_plan": option_to_dict(option)}
    asyncio.run(ActionRecordArrangement().run(dispatcher, _tracker(slots, "yes", "affirm"), {}))
    assert [m.get("response") for m in dispatcher.messages] == ["utter_nothing_owed"]
    assert _arrangements(paid_off) == 0
    with db.session_scope(paid_off) as session, pytest.raises(ValueError, match="nothing owing"):
        record_arrangement(session, account_id="A-1003", option=option, channel="sms", conversation_id="c1")
    assert _arrangements(paid_off) == 0
