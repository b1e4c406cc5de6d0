"""actions/clarification.py from tracker fixtures."""

from __future__ import annotations

import json

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, UserUtteranceReverted

from actions.clarification import ActionAskClarification, ActionResolveClarification
from tests.unit.actions.trackers import DATA, run, tracker_from


def test_the_question_numbers_the_likeliest_requests_in_the_debtors_words(portfolio_database: str) -> None:
    state = json.loads((DATA / "clarification_answered.json").read_text())
    state["latest_message"] = state["events"][1]["parse_data"]
    events, messages = run(ActionAskClarification(), Tracker.from_dict(state))
    assert events == []
    assert messages[0]["response"] == "utter_ask_clarification"
    assert messages[0]["options"] == (
        "1. you're telling me about a difficulty you're going through\n2. you'd like to set up a payment plan"
    )


def test_the_chosen_answer_replaces_question_and_answer_by_the_message_read_as_chosen(portfolio_database: str) -> None:
    events, messages = run(ActionResolveClarification(), tracker_from("clarification_answered"))
    assert messages == []
    assert events[:3] == [UserUtteranceReverted(), UserUtteranceReverted(), ActionExecuted("action_listen")]
    clarified = events[3]
    assert clarified["event"] == "user" and clarified["text"] == "my hours got cut, can we sort something out"
    assert clarified["parse_data"]["intent"] == {"name": "request_payment_plan", "confidence": 1.0}
    assert clarified["parse_data"]["hardship"]["type"] == "reduced_income"  # what it said still counts
    assert clarified["parse_data"]["entities"][0]["entity"] == "hardship_type"
    assert clarified["input_channel"] == "twilio_sms" and clarified["metadata"]["message_sid"] == "SM1"
    assert len(events) == 4


def test_a_no_is_acknowledged_and_nothing_is_done(portfolio_database: str) -> None:
    state = json.loads((DATA / "clarification_answered.json").read_text())
    state["latest_message"] = {"text": "no neither", "intent": {"name": "deny", "confidence": 0.95}, "entities": []}
    events, messages = run(ActionResolveClarification(), Tracker.from_dict(state))
    assert events == [] and [m["response"] for m in messages] == ["utter_clarification_declined"]


def test_emoji_alone_get_a_request_for_words_not_a_guess(portfolio_database: str) -> None:
    state = json.loads((DATA / "clarification_answered.json").read_text())
    ranking = [{"name": "nlu_fallback", "confidence": 0.6}, {"name": "abusive", "confidence": 0.31}]
    for text in ("😭😭🙏", "👎", "?!"):
        state["latest_message"] = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        events, messages = run(ActionAskClarification(), Tracker.from_dict(state))
        assert [m["response"] for m in messages] == ["utter_no_words"], (text, messages)
    # words with an emoji are words: the usual question
    state["latest_message"] = {
        **state["events"][1]["parse_data"],
        "text": "my hours got cut 😭 can we sort something out",
    }
    events, messages = run(ActionAskClarification(), Tracker.from_dict(state))
    assert messages[0]["response"] == "utter_ask_clarification"
