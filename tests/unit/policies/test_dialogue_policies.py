"""ClarificationPolicy and SafetyPolicy (act confirmation, hardship heard inside a request) on trackers
built from events, with the project's own domain and config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.clarification import clarification_rules
from policies.clarification_policy import ClarificationPolicy
from policies.safety_policy import SafetyPolicy
from scripts.services import ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


def _policy(cls: Any, tmp_path: Path, name: str) -> Any:
    entries = yaml.safe_load((ROOT / "config.yml").read_text())["policies"]
    config = {k: v for k, v in next(p for p in entries if p["name"].endswith(name)).items() if k != "name"}
    context = ExecutionContext(GraphSchema({}), "test")
    return cls.create({**cls.get_default_config(), **config}, LocalModelStorage(tmp_path), Resource(name), context)


def _user(text: str, intent: str, confidence: float, *ranking: tuple[str, float]) -> UserUttered:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]
        or [{"name": intent, "confidence": confidence}],
        "entities": [],
    }
    return UserUttered(text, parse["intent"], [], parse)


def _tracker(domain: Domain, *events: Any) -> DialogueStateTracker:
    start = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    return DialogueStateTracker.from_events("t", [*start, *events], domain.slots)


def _predicted(policy: Any, tracker: DialogueStateTracker, domain: Domain) -> str | None:
    probabilities = policy.predict_action_probabilities(tracker, domain).probabilities
    best = max(range(len(probabilities)), key=lambda i: probabilities[i])
    return domain.action_names_or_texts[best] if probabilities[best] == 1.0 else None


FALLBACK = _user(
    "can i sort this out somehow",
    "nlu_fallback",
    0.7,
    ("nlu_fallback", 0.7),
    ("request_payment_plan", 0.4),
    ("dispute_debt", 0.3),
)


def test_a_message_not_understood_gets_a_numbered_question_and_the_answer_resolves_it(
    domain: Domain, tmp_path: Path
) -> None:
    policy = _policy(ClarificationPolicy, tmp_path, "ClarificationPolicy")
    assert _predicted(policy, _tracker(domain, FALLBACK), domain) == "action_ask_clarification"
    asked = [FALLBACK, ActionExecuted("action_ask_clarification"), BotUttered("Did you mean: 1. ... 2. ...")]
    assert _predicted(policy, _tracker(domain, *asked), domain) == "action_listen"
    answered = [*asked, ActionExecuted("action_listen"), _user("2", "nlu_fallback", 0.9)]
    assert _predicted(policy, _tracker(domain, *answered), domain) == "action_resolve_clarification"
    # another request instead of an answer is left to the other policies
    other = [*asked, ActionExecuted("action_listen"), _user("whats my balance", "ask_balance", 0.95)]
    assert _predicted(policy, _tracker(domain, *other), domain) is None
    # nothing worth offering: the rules' "didn't understand" answers it
    lost = _user("qwerty", "nlu_fallback", 0.9, ("nlu_fallback", 0.9), ("greet", 0.05))
    assert _predicted(policy, _tracker(domain, lost), domain) is None
    # inside a form the form reads the message
    in_form = _tracker(domain, ActiveLoop("ptp_form"), SlotSet("requested_slot", "ptp_amount"), FALLBACK)
    assert _predicted(policy, in_form, domain) is None


def test_an_act_read_with_little_confidence_is_confirmed_before_it_is_recorded(domain: Domain, tmp_path: Path) -> None:
    safety = _policy(SafetyPolicy, tmp_path, "SafetyPolicy")
    clarify = _policy(ClarificationPolicy, tmp_path, "ClarificationPolicy")
    sure = clarification_rules().act_threshold
    unsure_dispute = _user("never mind forget it", "dispute_debt", sure - 0.2)
    assert _predicted(safety, _tracker(domain, unsure_dispute), domain) == "action_ask_clarification"
    certain = _user("this is not my debt", "dispute_debt", min(1.0, sure + 0.1))
    assert _predicted(safety, _tracker(domain, certain), domain) == "action_record_account_event"
    asked = [unsure_dispute, ActionExecuted("action_ask_clarification"), BotUttered("Just to check")]
    no = _tracker(domain, *asked, ActionExecuted("action_listen"), _user("no", "deny", 0.98))
    assert _predicted(safety, no, domain) is None
    assert _predicted(clarify, no, domain) == "action_resolve_clarification"
    # a crisis in the answer is still answered first
    crisis = _tracker(
        domain, *asked, ActionExecuted("action_listen"), _user("i want to end it all", "express_distress", 0.9)
    )
    assert _predicted(safety, crisis, domain) == "action_crisis_response"


def test_the_confirmed_act_is_handled_even_inside_a_form(domain: Domain, tmp_path: Path) -> None:
    """What the resolve action leaves (its events as actions/clarification.py returns them): the
    answer and the question gone, the original message read with certainty; SafetyPolicy acts on
    it at once, before the verification form would read it as a date of birth."""
    safety = _policy(SafetyPolicy, tmp_path, "SafetyPolicy")
    unsure = _user("hmm i dont think i owe all of that", "dispute_debt", 0.6)
    certain = _user("hmm i dont think i owe all of that", "dispute_debt", 1.0)
    tracker = _tracker(
        domain,
        ActionExecuted("verification_form"),
        ActiveLoop("verification_form"),
        SlotSet("requested_slot", "date_of_birth"),
        ActionExecuted("action_listen"),
        unsure,
        ActionExecuted("action_ask_clarification"),
        BotUttered("Just to check: you dispute this debt?"),
        ActionExecuted("action_listen"),
        _user("yes", "affirm", 0.98),
        ActionExecuted("action_resolve_clarification"),
        UserUtteranceReverted(),
        UserUtteranceReverted(),
        ActionExecuted("action_listen"),
        certain,
    )
    assert tracker.latest_action_name == "action_listen"
    prediction = safety.predict_action_probabilities(tracker, domain)
    assert _predicted(safety, tracker, domain) == "action_record_account_event"
    assert prediction.is_no_user_prediction  # outranks the form's own continuation


def _with_hardship(event: UserUttered, kind: str, confidence: float = 0.9, vulnerable: bool = False) -> UserUttered:
    parse = {**event.parse_data, "hardship": {"type": kind, "confidence": confidence, "vulnerable": vulnerable}}
    return UserUttered(event.text, parse["intent"], [], parse)


def _noted(domain: Domain, request: UserUttered, said: str, *slots: SlotSet) -> DialogueStateTracker:
    """The tracker after the note action heard ``request``: it spoke, stepped back, set ``slots``."""
    return _tracker(domain, request, ActionExecuted("action_note_hardship"), BotUttered(said), ActionReverted(), *slots)


def test_a_hardship_inside_a_request_is_heard_first_then_the_request_is_answered(
    domain: Domain, tmp_path: Path
) -> None:
    safety = _policy(SafetyPolicy, tmp_path, "SafetyPolicy")
    request = _with_hardship(
        _user("my hours got cut, can we do 40 a month", "request_payment_plan", 0.93), "reduced_income"
    )
    assert _predicted(safety, _tracker(domain, request), domain) == "action_note_hardship"
    # what the note action leaves: it stepped back, so the request is next, and not heard twice
    noted = _noted(domain, request, "I'm sorry to hear that", SlotSet("hardship_type", "reduced_income"))
    assert noted.latest_action_name == "action_listen"
    # the request's own handling follows: here a plan needs the debtor verified first
    assert _predicted(safety, noted, domain) == "action_start_verification"
    later = _tracker(
        domain,
        *list(noted.events)[3:],
        ActionExecuted("action_listen"),
        _with_hardship(_user("rent is 900 since my hours went down", "inform_finances", 0.9), "reduced_income"),
    )
    assert _predicted(safety, later, domain) != "action_note_hardship"
    # a vulnerable reading inside a request (changed rule: it was handed to a person, the request
    # unanswered): care and a person offered, then the request is answered
    vulnerable = _with_hardship(
        _user("whats my balance, my wife died last week", "ask_balance", 0.9), "bereavement", vulnerable=True
    )
    assert _predicted(safety, _tracker(domain, vulnerable), domain) == "action_note_hardship"
    heard = _noted(
        domain,
        vulnerable,
        "Thank you for telling me",
        SlotSet("hardship_type", "bereavement"),
        SlotSet("vulnerable", True),
    )
    assert _predicted(safety, heard, domain) == "action_start_verification"
    # ... and with nothing asked, care and a person
    nothing_asked = _with_hardship(_user("my wife died last week", "goodbye", 0.7), "bereavement", vulnerable=True)
    assert _predicted(safety, _tracker(domain, nothing_asked), domain) == "action_acknowledge_hardship"
