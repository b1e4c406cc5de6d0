"""The action that opens a conversation started by outreach (scripts/outreach.py through Rasa's
trigger_intent): links the account the outreach was about and gives the first disclosure; the
rule in data/rules/outreach.yml then asks for identity before anything about the debt."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import greet_by_business_name, log_event
from bot import db
from bot.outreach.segments import classify, facts_for
from bot.outreach.strategies import strategy_for
from bot.responses import first_text
from bot.settings import contact_for
from bot.verification import sender_phone

REASONS = ("collection", "follow_up", "ptp_reminder")


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


class ActionOutreachOpen(Action):
    """Opens an outreach conversation: ``account_ref`` and ``reason`` come from the trusted
    scheduler (a debtor cannot send EXTERNAL_ intents: text starting with "/" is plain text).

    The account is linked only when it belongs to the sender's phone; the opening gives only the
    business name and a line in the strategy's tone, nothing about the debt, because whoever holds
    the phone may not be the debtor (15 U.S.C. 1692b, 1692c(b); 12 CFR 1006.6(d)); the mini-Miranda
    comes once identity is confirmed (12 CFR 1006.18(e))."""

    def name(self) -> str:
        return "action_outreach_open"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reference = (_entity(tracker, "account_ref") or "").upper()
        reason = _entity(tracker, "reason") or "collection"
        reason = reason if reason in REASONS else "collection"
        tone = "neutral"
        language = tracker.get_slot("language")
        events: list[EventType] = [SlotSet("outreach_reason", reason), SlotSet("identity_verified", False)]
        phone = sender_phone(tracker.sender_id)
        with db.session_scope() as session:
            account: Any = session.get(db.Account, reference) if reference else None
            if account is not None and phone and account.debtor.phone_e164 == phone:
                # the opening's tone is the account's segment strategy's (data/strategies/)
                tone = strategy_for(classify(facts_for(session, account, datetime.now(timezone.utc)))).tone
                language = str(account.debtor.language or contact_for(str(account.jurisdiction)).language)
                events += [
                    SlotSet("account_id", account.id),
                    SlotSet("company_phone", contact_for(str(account.jurisdiction)).phone),
                    SlotSet("language", language),
                ]
            else:
                account = None
        if account is None:
            log_event(tracker, "outreach_open_unlinked", detail=f"{reference} {reason}")
        # in the account's language: the response is taken here, as this action's own slot events
        # are not yet applied when Rasa words its messages
        greet_by_business_name(dispatcher, str(account.jurisdiction) if account is not None else None, language)
        if reason == "ptp_reminder":
            dispatcher.utter_message(text=first_text("utter_outreach_ptp_reminder", language))
        else:
            events.append(SlotSet("outreach_tone", tone))
            dispatcher.utter_message(text=first_text(f"utter_outreach_open_{tone}", language))
        return events
