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


def _tracker(
    text: str,
    message_id: str | None,
    requested: str = "monthly_income",
    intent: str = "inform_finances",
    entities: list[dict[str, Any]] | None = None,
    **slots: Any,
) -> Tracker:
    values = {"account_id": "A-1001", "requested_slot": requested, "monthly_income": None, "monthly_outgoings": None}
    values |= {"income_to_check": None, **slots}
    user = {"event": "user", "text": text, "message_id": message_id, "parse_data": {}}
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    return Tracker("+16175550101", values, latest, [user], False, None, {"name": "ie_form"}, "action_listen")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every account read the form makes, by account id."""
    calls: list[str] = []

    def load(tracker: Tracker) -> db.Account:
        calls.append(tracker.get_slot("account_id"))
        return db.Account(id="A-1001", currency="USD", time_zone="America/New_York", jurisdiction="US-MA")

    monkeypatch.setattr(actions.plans, "load_account", load)
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


def test_an_offer_to_pay_is_not_a_figure(reads: list[str]) -> None:
    # filling nothing rejects the form, so the dialogue answers the offer (data/rules/plans.yml)
    form = ValidateIeForm()
    assert _run(form, _tracker("I can afford 100 a month", "o1", intent="request_payment_plan")) == {}
    assert _run(form, _tracker("I can pay 200 on friday", "o2", "monthly_outgoings", intent="promise_to_pay")) == {}
    dated = [{"entity": "date", "value": "2026-12-04"}]
    assert _run(form, _tracker("200 on friday", "o3", intent="promise_to_pay", entities=dated)) == {}
    # a figure beside the offer is still read
    slots = _run(form, _tracker("I earn 2000 a month and can pay 100", "o4"))
    assert slots["monthly_income"] == {"amount": "2000.00", "currency": "USD"}


def test_a_low_income_is_read_back_before_it_is_used(reads: list[str]) -> None:
    form = ValidateIeForm()
    two = {"amount": "2.00", "currency": "USD"}
    assert _run(form, _tracker("2", "l1")) == {"income_to_check": two}
    # yes, or the same figure again, makes it the income; another figure replaces it
    confirmed = {"monthly_income": two, "income_to_check": None}
    assert _run(form, _tracker("yes", "l2", intent="affirm", income_to_check=two)) == confirmed
    assert _run(form, _tracker("2", "l3", income_to_check=two)) == confirmed
    corrected = _run(form, _tracker("sorry I meant 2000", "l4", intent="deny", income_to_check=two))
    assert corrected == {"monthly_income": {"amount": "2000.00", "currency": "USD"}, "income_to_check": None}
    # a plain no drops it and the question is asked again; a second low figure is read back too
    assert _run(form, _tracker("no", "l5", intent="deny", income_to_check=two)) == {"income_to_check": None}
    fifty = {"amount": "50.00", "currency": "USD"}
    assert _run(form, _tracker("50", "l6", income_to_check=two)) == {"income_to_check": fifty}
    assert _run(form, _tracker("2000", "l7"))["monthly_income"] == {"amount": "2000.00", "currency": "USD"}


def test_no_with_a_figure_is_the_figure_and_skipping_outgoings_keeps_the_income(reads: list[str]) -> None:
    form = ValidateIeForm()
    slots = _run(form, _tracker("no, 2000", "n1", intent="deny"))
    assert slots == {"monthly_income": {"amount": "2000.00", "currency": "USD"}}
    assert _run(form, _tracker("no", "n2", intent="deny")) == {
        "monthly_income": "skipped",
        "monthly_outgoings": "skipped",
    }
    income = {"amount": "2000.00", "currency": "USD"}
    slots = _run(form, _tracker("skip", "n3", "monthly_outgoings", monthly_income=income))
    assert slots == {"monthly_outgoings": "skipped"}


def test_an_answer_with_no_amount_is_asked_again_and_a_request_leaves_the_form(reads: list[str]) -> None:
    form = ValidateIeForm()
    assert _run(form, _tracker("blah blah", "u1", intent="nlu_fallback")) == {"ie_reask": "no_amount"}
    assert _run(form, _tracker("yes", "u2", "monthly_outgoings", intent="affirm")) == {"ie_reask": "no_amount"}
    # nothing filled and no flag: the form is rejected and the dialogue answers the question
    assert _run(form, _tracker("whats my balance", "u3", intent="ask_balance")) == {}


def test_an_amount_in_another_currency_is_not_taken(reads: list[str]) -> None:
    # "£500" on a dollar account was taken as income, then subtracted from dollar outgoings
    form = ValidateIeForm()
    assert _run(form, _tracker("£500", "c1")) == {"ie_reask": "other_currency"}
    assert _run(form, _tracker("rent 900 and food €200", "c2", "monthly_outgoings")) == {"ie_reask": "other_currency"}
    assert _run(form, _tracker("$500 a month", "c3")) == {"monthly_income": {"amount": "500.00", "currency": "USD"}}


def test_nothing_is_an_amount_of_zero_not_a_skip(reads: list[str]) -> None:
    # a trial: "nothing" for outgoings was taken as "skip", so a confirmed income of 0 was ignored
    form = ValidateIeForm()
    income = {"amount": "0.00", "currency": "USD"}
    slots = _run(form, _tracker("nothing", "z1", "monthly_outgoings", intent="deny", monthly_income=income))
    assert slots == {"monthly_outgoings": {"currency": "USD", "items": {"other": "0.00"}}}
    assert _run(form, _tracker("I earn nothing", "z2")) == {"income_to_check": income}  # read back first
