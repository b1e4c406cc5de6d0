"""Safety and care: crisis language answered with a helpline and a person, and a stated hardship
acknowledged (the rule and the records are in ``bot/safety.py``)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionReverted, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import channel_of, is_verified, load_account, log_event, sender_context, stop_form
from bot import db
from bot.compliance.scra import REQUESTED as SCRA_REQUESTED
from bot.compliance.scra import scra_status
from bot.compliance.service import history_for
from bot.safety import helpline_for, record_crisis


class ActionCrisisResponse(Action):
    """Crisis or self-harm language: a safe reply with the helpline of the debtor's jurisdiction
    (the sender context's, so an unknown sender is placed as everywhere else), the conversation
    flagged for a person at top priority, any form stopped, and no payment talk (FCA FG21/1;
    CONC 7.2.1R). Recorded in the contact log and the audit log."""

    def name(self) -> str:
        return "action_crisis_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        context = sender_context(tracker, load_account(tracker))
        helpline = helpline_for(context.jurisdiction)
        dispatcher.utter_message(response="utter_crisis", helpline=helpline.line, emergency=helpline.emergency)
        with db.session_scope() as session:
            record_crisis(
                session,
                account_id=tracker.get_slot("account_id"),
                channel=channel_of(tracker),
                conversation_id=tracker.sender_id,
                detail="priority=1 crisis language",
            )
        dispatcher.utter_message(json_message={"handoff": "crisis"})
        return stop_form(tracker) + [
            SlotSet("vulnerable", True),
            SlotSet("handoff_reason", "crisis"),
            SlotSet("collection_hold", "crisis"),
        ]


def _hardship_events(tracker: Tracker, hardship: dict[str, Any]) -> list[EventType]:
    return (
        [SlotSet("hardship_type", hardship["type"]), SlotSet("hardship_duration", hardship.get("duration"))]
        if hardship.get("type")
        else []
    )


class ActionNoteHardship(Action):
    """A hardship told inside another request ("my hours got cut, can we do 40 a month"): heard in
    words before anything else, recorded with the classifier's reading, and kept for the plans
    (slots ``hardship_type``, ``hardship_duration``; ``vulnerable`` when the reading is, with a
    member of the team offered); then the action steps back out of the dialogue's history
    (``ActionReverted``), so the request itself is answered next as if this had not run."""

    def name(self) -> str:
        return "action_note_hardship"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        hardship = tracker.latest_message.get("hardship") or {}
        vulnerable = bool(hardship.get("vulnerable"))
        detail = f"type={hardship.get('type')} duration={hardship.get('duration')} within={_intent(tracker)}"
        if vulnerable:
            detail += f" vulnerability={hardship.get('vulnerability')}"
        log_event(tracker, "hardship_disclosed", detail=detail)
        # vulnerable: the pace is theirs and a person is offered, not imposed (FCA FG21/1)
        dispatcher.utter_message(response="utter_vulnerable_noted" if vulnerable else "utter_hardship_noted")
        if hardship.get("type") == "military":
            explain_scra(dispatcher, tracker)
        # the revert drops this action and its message from the state; the slots come after it
        flagged = [SlotSet("vulnerable", True)] if vulnerable else []
        return [ActionReverted(), *_hardship_events(tracker, hardship), *flagged]


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


class ActionAcknowledgeHardship(Action):
    """Acknowledges a hardship once, with extra care when the debtor may be vulnerable, and
    records the classifier's reading (type, duration, evidence) in the contact log."""

    def name(self) -> str:
        return "action_acknowledge_hardship"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        hardship = tracker.latest_message.get("hardship") or {}
        vulnerable = bool(hardship.get("vulnerable") or tracker.get_slot("vulnerable"))
        detail = f"type={hardship.get('type')} duration={hardship.get('duration')} vulnerability={hardship.get('vulnerability')}"
        log_event(tracker, "hardship_disclosed", detail=detail)
        dispatcher.utter_message(response="utter_vulnerable_ack" if vulnerable else "utter_hardship_ack")
        if hardship.get("type") == "military":
            explain_scra(dispatcher, tracker)
        events = _hardship_events(tracker, hardship)
        return events + ([SlotSet("handoff_reason", "vulnerability")] if vulnerable else [])


def explain_scra(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """A servicemember's hardship, to the verified debtor of a US account: the SCRA 6% cap
    explained, a copy of the orders or a written notice asked for (50 U.S.C. 3937(b)(1)), and the
    account flagged (``scra_requested``) until the documents arrive (bot/compliance/scra.py)."""
    account = load_account(tracker) if is_verified(tracker) else None
    if account is None or not str(account.jurisdiction).startswith("US"):
        return
    with db.session_scope() as session:
        pending = scra_status(history_for(session, str(account.id))).awaiting_documents
    dispatcher.utter_message(response="utter_scra_explained")
    if not pending:
        log_event(tracker, SCRA_REQUESTED, detail="50 U.S.C. 3937(b): orders or written notice requested")
