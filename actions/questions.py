"""Questions about who is contacting the debtor and about consequences ("who is this", "will you
sue me", "is this a scam"), answered with the facts for their topic (``bot/questions.py``):
never a threat, never a promise the creditor cannot keep (12 CFR 1006.18), and nothing about the
debt before the debtor's identity is confirmed (12 CFR 1006.6(d))."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import is_verified, load_account, log_event
from actions.payments import ActionTellBalance
from bot.questions import question_topic

SAFE_BEFORE_VERIFICATION = {"scam"}  # answers that say nothing about a debt


class ActionAnswerQuestion(Action):
    """Answers by topic; "who" and "why" name the account and its balance once verified. Before
    verification only a "scam?" is answered (how to check we are genuine); the rules then start
    verification."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        topic = question_topic(tracker.latest_message.get("text") or "")
        verified = is_verified(tracker)
        log_event(tracker, "question_answered", detail=f"topic={topic} verified={verified}")
        if not verified:
            if topic in SAFE_BEFORE_VERIFICATION:
                dispatcher.utter_message(response=f"utter_answer_{topic}")
            return []
        if topic in ("who", "why"):
            account = load_account(tracker)
            if account is not None:
                dispatcher.utter_message(response="utter_answer_who", last_four=account.last_four)
            return await ActionTellBalance().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response=f"utter_answer_{topic}")
        return []
