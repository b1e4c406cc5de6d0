"""Asking instead of guessing (``bot/clarification.py``): the numbered question between the
requests a message may have meant, or a yes-or-no check of an act, and the answer read back into
the conversation as if the message had been understood."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import channel_of, log_event, texts_of
from bot.clarification import DECLINED, candidates, has_words, read_choice


def _question_parse(tracker: Tracker) -> dict[str, Any] | None:
    """The parse data of the user message before the latest one (the message asked about)."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    return (users[-2].get("parse_data") or {}) if len(users) >= 2 else None


class ActionAskClarification(Action):
    """Asks which request the latest message meant ("1. ..., 2. ...") or, for a single act read
    with too little confidence, whether it is meant ("you want to dispute this debt?")."""

    def name(self) -> str:
        return "action_ask_clarification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if text.strip() and not has_words(text):
            # emoji or symbols only: the model sees no words, so any choice offered would be a guess
            dispatcher.utter_message(response="utter_no_words")
            log_event(tracker, "clarification_asked", detail="no_words")
            return []
        offered = candidates(tracker.latest_message)
        texts = texts_of(tracker)
        if not offered:
            dispatcher.utter_message(response="utter_default")
            return []
        if len(offered) == 1:
            dispatcher.utter_message(response="utter_confirm_act", option=texts.get(f"intent.{offered[0]}"))
        else:
            lines = "\n".join(f"{i}. {texts.get(f'intent.{name}')}" for i, name in enumerate(offered, 1))
            dispatcher.utter_message(response="utter_ask_clarification", options=lines)
        log_event(tracker, "clarification_asked", detail=" ".join(offered))
        return []


class ActionResolveClarification(Action):
    """Reads the answer to the question: a choice replaces the question and its answer by the
    original message read as the chosen intent (with certainty, its entities and hardship kept),
    so the dialogue acts on it; a no is acknowledged and nothing is done."""

    def name(self) -> str:
        return "action_resolve_clarification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        original = _question_parse(tracker)
        if original is not None and not has_words(str(original.get("text") or "x")):
            # "yes" or "no" to "tell me in a few words": nothing was asked to choose from
            dispatcher.utter_message(response="utter_ask_in_words")
            return []
        offered = candidates(original) if original else []
        reply = tracker.latest_message
        choice = read_choice(reply.get("text") or "", (reply.get("intent") or {}).get("name"), offered)
        if original is None or choice is None or choice == DECLINED:
            log_event(tracker, "clarification_declined")
            dispatcher.utter_message(response="utter_clarification_declined")
            return []
        chosen = offered[choice]
        log_event(tracker, "clarification_chosen", detail=chosen)
        parse = {**original, "intent": {"name": chosen, "confidence": 1.0}}
        users = [e for e in tracker.events if e.get("event") == "user"]
        clarified: dict[str, Any] = {
            "event": "user",
            "timestamp": None,
            "text": original.get("text"),
            "parse_data": parse,
            "input_channel": users[-2].get("input_channel") or channel_of(tracker),
            "metadata": users[-2].get("metadata") or original.get("metadata") or {},
        }
        # the answer, then the original message and the question, leave the dialogue's history
        # (each revert also takes the listen before its message, which Rasa expects back)
        return [UserUtteranceReverted(), UserUtteranceReverted(), ActionExecuted("action_listen"), clarified]
