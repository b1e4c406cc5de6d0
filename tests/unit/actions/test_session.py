"""actions/session.py from tracker fixtures: the session start reads the sender context the
channel resolved, or resolves it by the same rule when the session began without one."""

from __future__ import annotations

import json

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet

from actions.session import ActionSessionStart
from bot import db
from bot.compliance.disclosures import business_name
from bot.responses import first_text
from tests.unit.actions.trackers import DATA, run, tracker_from


def test_session_start_links_the_senders_account_and_gives_only_the_business_name(portfolio_database: str) -> None:
    events, messages = run(ActionSessionStart(), tracker_from("session_start_known_sms_sender"))
    assert events == [
        SessionStarted(),
        SlotSet("account_id", "A-1001"),
        SlotSet("company_phone", "1-800-555-0199"),
        SlotSet("language", "en"),
        ActionExecuted("action_listen"),
    ]
    # before right-party contact only the business name (15 U.S.C. 1692b; 12 CFR 1006.6(d)); the
    # mini-Miranda comes once identity is confirmed (1006.18(e))
    assert [m["text"] for m in messages] == ["Hello, this is Example Lending."]


def test_session_start_without_a_context_places_an_unknown_uk_number_in_the_uk(portfolio_database: str) -> None:
    state = json.loads((DATA / "session_start_known_sms_sender.json").read_text())
    state["sender_id"] = "+447700900999"
    state["slots"] = {"session_started_metadata": {"channel": "sms"}}
    events, _ = run(ActionSessionStart(), Tracker.from_dict(state))
    assert events == [
        SessionStarted(),
        SlotSet("company_phone", "0800 555 0199"),
        SlotSet("language", "en"),
        ActionExecuted("action_listen"),
    ]


def test_session_start_carries_an_earlier_opt_out_and_hold(portfolio_database: str) -> None:
    with db.session_scope() as session:
        session.add(db.OptOut(address="+16175550101", channel="sms", account_id="A-1001", wording="STOP"))
        db.log_contact(session, account_id="A-1001", channel="rest", direction="inbound", event="bankruptcy")
    events, _ = run(ActionSessionStart(), tracker_from("session_start_known_sms_sender"))
    assert SlotSet("opted_out", True) in events
    assert SlotSet("collection_hold", "bankruptcy") in events


def test_a_chinese_account_speaks_chinese_from_the_start(portfolio_database: str) -> None:
    state = json.loads((DATA / "session_start_known_sms_sender.json").read_text())
    state["sender_id"] = "+8613800138001"  # A-3001
    state["slots"] = {"session_started_metadata": {"channel": "sms"}}
    events, messages = run(ActionSessionStart(), Tracker.from_dict(state))
    assert SlotSet("account_id", "A-3001") in events and SlotSet("language", "zh") in events
    # a CN account is greeted by its Chinese business name (business_names in data/company.yml)
    name = business_name("CN", "zh")
    assert name != "Example Lending"
    assert [m["text"] for m in messages] == [first_text("utter_greeting", "zh").format(business_name=name)]
