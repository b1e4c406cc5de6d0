"""actions/safety.py from tracker fixtures."""

from __future__ import annotations

from rasa_sdk.events import ActiveLoop, SlotSet
from sqlalchemy import select

from actions.safety import ActionCrisisResponse
from bot import db
from tests.unit.actions.trackers import run, tracker_from


def test_crisis_from_an_unknown_uk_number_gets_the_uk_helpline_and_is_recorded(portfolio_database: str) -> None:
    events, messages = run(ActionCrisisResponse(), tracker_from("crisis_unknown_uk_sender"))
    assert events == [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet("vulnerable", True),
        SlotSet("handoff_reason", "crisis"),
        SlotSet("collection_hold", "crisis"),
    ]
    crisis = messages[0]
    assert crisis["response"] == "utter_crisis"
    assert "Samaritans" in crisis["helpline"] and "999" in crisis["emergency"]  # placed by the +44 number
    assert messages[1]["custom"] == {"handoff": "crisis"}
    with db.session_scope() as session:
        log = session.execute(select(db.ContactLog).where(db.ContactLog.conversation_id == "+447700900999")).scalars()
        assert [(r.event, r.channel) for r in log] == [("handoff_crisis", "sms")]
        audit = session.execute(select(db.AuditEntry).where(db.AuditEntry.action == "handoff_crisis")).scalars().all()
        assert [(a.outcome, a.reasons) for a in audit] == [("recorded", '["crisis_language"]')]


def test_a_hardship_inside_a_request_is_noted_recorded_and_steps_back(portfolio_database: str) -> None:
    import json

    from rasa_sdk import Tracker
    from rasa_sdk.events import ActionReverted

    from actions.safety import ActionNoteHardship
    from tests.unit.actions.trackers import DATA

    state = json.loads((DATA / "dispute_verified_debtor.json").read_text())
    state["latest_message"] = {
        "text": "my hours got cut at the depot so could we do smaller payments",
        "intent": {"name": "request_payment_plan", "confidence": 0.91},
        "entities": [],
        "hardship": {"type": "reduced_income", "duration": "temporary", "confidence": 0.8, "vulnerable": False},
    }
    events, messages = run(ActionNoteHardship(), Tracker.from_dict(state))
    assert events == [
        ActionReverted(),
        SlotSet("hardship_type", "reduced_income"),
        SlotSet("hardship_duration", "temporary"),
    ]
    assert [m["response"] for m in messages] == ["utter_hardship_noted"]
    with db.session_scope() as session:
        rows = session.execute(select(db.ContactLog).where(db.ContactLog.event == "hardship_disclosed")).scalars()
        assert [r.detail for r in rows] == ["type=reduced_income duration=temporary within=request_payment_plan"]
