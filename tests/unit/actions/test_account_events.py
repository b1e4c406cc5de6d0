"""actions/account_events.py from tracker fixtures."""

from __future__ import annotations

from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions.account_events import ActionRecordAccountEvent
from bot import db
from tests.unit.actions.trackers import run, tracker_from


def test_a_dispute_is_recorded_holds_collection_and_gets_validation_information(portfolio_database: str) -> None:
    events, messages = run(ActionRecordAccountEvent(), tracker_from("dispute_verified_debtor"))
    assert events == [SlotSet("handoff_reason", "dispute"), SlotSet("collection_hold", "dispute")]
    assert [m["response"] for m in messages] == ["utter_dispute_recorded", "utter_validation_information"]
    validation = messages[1]
    assert validation["last_four"] == "4821" and validation["balance"] == "$1,240.50"
    with db.session_scope() as session:
        rows = session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-1001")).scalars().all()
        assert [(r.event, r.channel) for r in rows] == [("dispute", "sms"), ("validation_information_sent", "sms")]
        assert rows[0].detail == "this isn't my debt, I never took out a loan with you"
        audit = session.execute(select(db.AuditEntry).where(db.AuditEntry.account_id == "A-1001")).scalars().all()
        assert [(a.action, a.outcome) for a in audit] == [("dispute", "recorded")]
