"""The I&E form's validation action: what one form turn extracts, and how often it reads the account."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.plans
from actions.plans import ValidateIeForm
from bot import db

DOMAIN: dict[str, Any] = {"forms": {"ie_form": {"required_slots": ["monthly_income", "monthly_outgoings"]}}}


def _tracker(text: str, message_id: str | None, requested: str = "monthly_income") -> Tracker:
    slots = {"account_id": "A-1001", "requested_slot": requested, "monthly_income": None, "monthly_outgoings": None}
    user = {"event": "user", "text": text, "message_id": message_id, "parse_data": {}}
    latest = {"text": text, "intent": {"name": "inform_finances", "confidence": 0.9}, "entities": []}
    return Tracker("+16175550101", slots, latest, [user], False, None, {"name": "ie_form"}, "action_listen")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every account read the form makes, by account id."""
    calls: list[str] = []

    def load(tracker: Tracker) -> db.Account:
        calls.append(tracker.get_slot("account_id"))
        return db.Account(id="A-1001", currency="USD", time_zone="America/New_York", jurisdiction="US-MA")

    monkeypatch.setattr(actions.plans, "_load_account", load)
    return calls


def _run(form: ValidateIeForm, tracker: Tracker) -> dict[str, Any]:
    events = asyncio.run(form.run(CollectingDispatcher(), tracker, DOMAIN))
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_one_account_read_per_form_turn(reads: list[str]) -> None:
    form = ValidateIeForm()
    slots = _run(form, _tracker("I earn about 2k a month and rent is 900", "m1"))
    assert slots["monthly_income"] == {"amount": "2000.00", "currency": "USD"}
    assert slots["monthly_outgoings"] == {"currency": "USD", "items": {"home_and_contents": "900.00"}}
    assert reads == ["A-1001"]
    _run(form, _tracker("food 300", "m2", requested="monthly_outgoings"))  # the next message reads again
    assert reads == ["A-1001", "A-1001"]


def test_without_a_message_id_the_form_still_reads_the_account(reads: list[str]) -> None:
    slots = _run(ValidateIeForm(), _tracker("I earn about 2k a month and rent is 900", None))
    assert slots["monthly_income"] == {"amount": "2000.00", "currency": "USD"}
    assert slots["monthly_outgoings"] == {"currency": "USD", "items": {"home_and_contents": "900.00"}}
    assert reads
