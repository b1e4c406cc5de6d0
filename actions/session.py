"""Conversation lifecycle: the start of a session (account linked, holds carried over, the
business name only), goodbye, and the satisfaction question after it."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import channel_of, greet_by_business_name, log_event, now, sender_context, stop_form
from bot import db
from bot.compliance.service import conversation_holds
from bot.kpis import parse_rating


class ActionSessionStart(Action):
    """Starts each conversation: links the account of the sender's phone (the sender context) and
    says only the business name (data/company.yml) as the first bot turn: nothing that tells a
    third party the message is about a debt before right-party contact (15 U.S.C. 1692b,
    1692c(b); 12 CFR 1006.6(d)); the mini-Miranda comes once identity is confirmed (12 CFR
    1006.18(e), actions/common.py ``disclose``). Holds and opt-outs recorded in earlier
    conversations apply in this one."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        context = sender_context(tracker)
        events: list[EventType] = [SessionStarted()]
        if context.account_id:
            events.append(SlotSet("account_id", context.account_id))
        events.append(SlotSet("company_phone", context.company_phone))
        events.append(SlotSet("language", context.language))
        with db.session_scope() as session:
            account = session.get(db.Account, context.account_id) if context.account_id else None
            address = context.phone or tracker.sender_id
            hold, opted_out = conversation_holds(session, account, context.channel, address, now())
        if hold:
            events.append(SlotSet("collection_hold", hold))
        if opted_out:
            events.append(SlotSet("opted_out", True))
        # in the conversation's language: the response is taken here, as this action's own
        # language slot is not yet applied when Rasa words its messages
        greet_by_business_name(dispatcher, context.jurisdiction, context.language)
        events.append(ActionExecuted("action_listen"))
        return events


class ActionEndConversation(Action):
    """Goodbye: ends any form and forgets the verification, so the next message on a shared
    device or phone has to verify again."""

    def name(self) -> str:
        return "action_end_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_goodbye")
        events = stop_form(tracker) + [
            SlotSet("identity_verified", False),
            SlotSet("date_of_birth", None),
            SlotSet("second_factor", None),
            SlotSet("ptp_amount", None),
            SlotSet("ptp_date", None),
            SlotSet("plan_stage", None),
            SlotSet("plan_options", None),
            SlotSet("selected_plan", None),
            SlotSet("monthly_income", None),
            SlotSet("monthly_outgoings", None),
        ]
        if csat_wanted(tracker):
            # asked once; policies/csat_policy.py takes a bare 1-5 reply to it as the answer
            voice = channel_of(tracker) == "voice"
            dispatcher.utter_message(response="utter_csat_question_voice" if voice else "utter_csat_question")
            events.append(SlotSet("csat_asked", True))
        return events


def csat_wanted(tracker: Tracker) -> bool:
    """Ask the CSAT question once per conversation, and never after an opt-out (no further
    messages, 12 CFR 1006.6(e)), a wrong party or a locked verification, or a crisis."""
    return not (
        tracker.get_slot("csat_asked")
        or tracker.get_slot("opted_out")
        or tracker.get_slot("verification_locked")
        or tracker.get_slot("collection_hold") == "crisis"
        or tracker.get_slot("handoff_reason") == "crisis"
    )


class ActionRecordCsat(Action):
    """Records the answer to the CSAT question: slot ``csat_score`` (1-5) and a contact-log event
    ``csat`` whose detail is the score."""

    def name(self) -> str:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        score = parse_rating(tracker.latest_message.get("text"))
        if score is None:  # the policy only predicts this action for a rating; stay safe anyway
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        log_event(tracker, "csat", detail=str(score))
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet("csat_score", float(score))]
