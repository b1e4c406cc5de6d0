"""A policy that handles crisis language and legally significant requests first, whatever the
dialogue state, also inside forms: it wins over the rule and ML policies (higher priority,
confidence 1.0).

- Crisis: ``action_crisis_response`` when the latest user message is ``crisis_intent`` (top
  intent, or in the ranking with at least ``crisis_ranking_threshold``) or carries the hardship
  crisis flag. Both keys are required in this policy's entry in ``config.yml``, the one source
  of the rule: the handoff channel reads the same entry (:func:`bot.safety.crisis_rule`).
- ``always_handle``: intent → action for requests that must never be lost in a form (opt-out,
  cease contact, attorney, bankruptcy, deceased, dispute), when that intent is on top with at
  least ``intent_threshold`` confidence. An act in ``confirm_intents`` of
  ``data/clarification.yml`` read with less than its ``act_threshold`` is confirmed first
  (``confirm_action``, a yes-or-no question; policies/clarification_policy.py reads the answer).

- Form exits: ``form_exits`` maps a form to the intents that leave it, ``phrases`` (regular
  expressions, matched case-insensitively, for "never mind" however NLU reads it) and the action
  that does.
- Hardship first: a message the classifier reads as vulnerable, or as a hardship whose intent is
  one of ``hardship_overrides`` (not understood, goodbye, ...), gets ``hardship_action`` (care, and
  a person for vulnerability). A hardship told inside any other request gets
  ``hardship_note_action``, which acknowledges and records it and steps back, so the request is
  answered next; so does a vulnerable reading inside a request of ``vulnerable_answered`` (a
  balance, a plan, a promise, how to pay, ...): the person is offered a member of the team and
  the request is still answered, at their pace (FCA FG21/1 asks for care and a person offered; a
  request left unanswered is neither). Once a conversation for a hardship, and once for a
  vulnerable reading (slot ``vulnerable``); intents in ``hardship_note_skip`` have their own
  handling.
- On hold: while ``hold_slot`` is set (a dispute, attorney, bankruptcy, deceased report, cease
  request, crisis or Breathing Space) and identity is verified, collection intents get
  ``hold_action`` instead of a balance or a promise (before verification they start verification:
  a hold's reply would tell a third party the account is a debt).
- Third parties: before verification, words of someone who answers for the debtor
  (:func:`bot.verification.speaks_for_debtor`, ``data/third_party.yml``) get
  ``third_party_action`` (no debt detail, an offer to take a message, 15 U.S.C. 1692b).
- Not verified: a debt question (``requires_verification``) first starts verification.
- A message left for the debtor: while ``message_slot`` is set (a third party was invited to
  leave one) and nobody is verified, the next message is it (``message_action``), unless it is a
  goodbye or a no.
- Work: words that say not to contact the debtor at work ("stop calling me at work", "my boss
  doesn't allow calls", :func:`bot.compliance.preferences.mentions_work_restriction`) get
  ``work_restriction_action``, however NLU read them (12 CFR 1006.6(b)(3); CONC 7.9.4R).
- Opted out: while ``suppressed_slot`` is set, every message except ``resume_intents`` (START)
  gets ``suppressed_action``, which carries no collection content (12 CFR 1006.6(e)).

After its action it predicts ``action_listen``; otherwise it abstains (all zeros).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.core.policies.policy import PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from bot.clarification import candidates, needs_confirmation, read_choice
from bot.compliance.preferences import mentions_work_restriction
from bot.safety import CONFIG, POLICY_NAME, CrisisRule, crisis_rule, is_crisis
from bot.verification import speaks_for_debtor
from policies.clarification_policy import question_asked
from policies.fixed_policy import FixedPolicy

__all__ = ["CONFIG", "POLICY_NAME", "CrisisRule", "SafetyPolicy", "crisis_rule", "is_crisis"]


def _hardship_acknowledged(tracker: DialogueStateTracker, actions: set[str]) -> bool:
    """Whether a hardship was already acknowledged in this conversation session: the note action
    steps out of the dialogue's history once it has spoken, so the raw events are read."""
    for event in reversed(tracker.events):
        if isinstance(event, SessionStarted):
            return False
        if isinstance(event, ActionExecuted) and event.action_name in actions:
            return True
    return False


def _answers_a_question(tracker: DialogueStateTracker) -> bool:
    """Whether the latest message answers a clarification question (ClarificationPolicy resolves
    it; a "no, I said stop" is not a new act to confirm)."""
    original = question_asked(tracker)
    if original is None:
        return False
    parse = tracker.latest_message.parse_data if tracker.latest_message else {}
    intent = (parse.get("intent") or {}).get("name")
    return read_choice(parse.get("text") or "", intent, candidates(original)) is not None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class SafetyPolicy(FixedPolicy):
    """Crisis and compliance requests first. Config: ``priority`` (default 7, above RulePolicy's
    6), ``crisis_action``, ``crisis_intent`` and ``crisis_ranking_threshold`` (required, no
    default), ``intent_threshold``, ``always_handle``."""

    def __init__(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        self.crisis = CrisisRule.from_config(config)  # a missing crisis setting stops training and loading
        super().__init__(config, *args, **kwargs)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "priority": 7,
            "crisis_action": "action_crisis_response",
            "intent_threshold": 0.5,
            "always_handle": {},
            "suppressed_slot": "opted_out",
            "suppressed_action": "action_opted_out_notice",
            "resume_intents": ["opt_in"],
            "verified_slot": "identity_verified",
            "locked_slot": "verification_locked",
            "verification_action": "action_start_verification",
            "requires_verification": [],
            "hold_slot": "collection_hold",
            "hold_action": "action_collection_paused",
            "collection_intents": [],
            "hardship_action": "action_acknowledge_hardship",
            "hardship_note_action": "action_note_hardship",
            # a death reported is recorded (12 CFR 1006.2(e)); its reply and the bereavement team are the care
            "hardship_note_skip": ["inform_hardship", "express_distress", "deceased"],
            "hardship_overrides": [],
            "vulnerable_answered": [],
            "vulnerable_slot": "vulnerable",
            "hardship_confidence": 0.6,
            "form_exits": {},
            "confirm_action": "action_ask_clarification",
            "third_party_action": "action_wrong_number",
            "message_slot": "third_party_message_pending",
            "message_action": "action_take_message",
            "work_restriction_action": "action_record_account_event",
        }

    def _hardship_actions(self) -> set[str]:
        return {self.config["hardship_action"], self.config["hardship_note_action"]}

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        # RulePolicy marks "continue the active form" as a no-user prediction, which the ensemble
        # ranks above every other prediction; ours must carry the same mark to win over a form.

        def decided() -> PolicyPrediction:
            return self._prediction(result, is_no_user_prediction=True)

        own_actions = {
            self.config["crisis_action"],
            self.config["suppressed_action"],
            self.config["hold_action"],
            self.config["hardship_action"],
            self.config["third_party_action"],
            self.config["message_action"],
            self.config["work_restriction_action"],
            *self.config["always_handle"].values(),
            *(exit_["action"] for exit_ in self.config["form_exits"].values()),
            self.config["confirm_action"],
        }
        if tracker.latest_action_name in own_actions:
            result[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
            return decided()
        if tracker.latest_action_name != ACTION_LISTEN_NAME:
            return self._prediction(result)
        parse = tracker.latest_message.parse_data
        if self.crisis.matches(parse):
            result[domain.index_for_action(self.config["crisis_action"])] = 1.0
            return decided()
        intent = parse.get("intent") or {}
        if tracker.get_slot(self.config["suppressed_slot"]) and intent.get("name") not in self.config["resume_intents"]:
            result[domain.index_for_action(self.config["suppressed_action"])] = 1.0
            return decided()
        text = parse.get("text") or ""
        verified = bool(tracker.get_slot(self.config["verified_slot"]))
        if (
            tracker.get_slot(self.config["message_slot"])
            and not verified
            and intent.get("name") not in ("goodbye", "deny")  # "bye", "no thanks": no message left
        ):
            # the message a third party was invited to leave for the debtor (15 U.S.C. 1692b)
            result[domain.index_for_action(self.config["message_action"])] = 1.0
            return decided()
        if mentions_work_restriction(text):
            result[domain.index_for_action(self.config["work_restriction_action"])] = 1.0
            return decided()
        exit_ = self.config["form_exits"].get(tracker.active_loop_name or "")
        if exit_ and (
            intent.get("name") in exit_["intents"]
            or any(re.search(p, text, re.IGNORECASE) for p in exit_.get("phrases", []))
        ):
            # "never mind" inside a form: leave it instead of asking the same question again
            result[domain.index_for_action(exit_["action"])] = 1.0
            return decided()
        recorded_anyway = (
            self.config["always_handle"].get(intent.get("name"))
            and (intent.get("confidence") or 0) >= self.config["intent_threshold"]
        )
        if (
            not verified
            and not recorded_anyway  # a death or a bankruptcy is recorded whoever reports it
            and speaks_for_debtor(text)
        ):
            # someone speaking for the debtor learns nothing (their hardship talk included) and
            # may leave a message
            result[domain.index_for_action(self.config["third_party_action"])] = 1.0
            return decided()
        hardship = parse.get("hardship") or {}
        name = intent.get("name")
        significant = bool(hardship.get("type")) and hardship.get("confidence", 0) >= self.config["hardship_confidence"]
        # once a conversation is enough: later messages ("my rent is 1400") mean something else
        fresh = significant and not _hardship_acknowledged(tracker, self._hardship_actions())
        vulnerable = bool(hardship.get("vulnerable"))
        answered = name in self.config["vulnerable_answered"]
        if name not in self.config["hardship_note_skip"] and (
            (vulnerable and not answered) or (fresh and name in self.config["hardship_overrides"])
        ):
            # "i have cancer" read as goodbye, or not understood, or a vulnerable person saying
            # anything but a request: the person matters more than the dialogue (FCA FG21/1)
            result[domain.index_for_action(self.config["hardship_action"])] = 1.0
            return decided()
        newly_vulnerable = vulnerable and not tracker.get_slot(self.config["vulnerable_slot"])
        if (fresh or newly_vulnerable) and name not in self.config["hardship_note_skip"]:
            # a hardship told inside a request ("my hours got cut, can we do 40 a month", "my mum
            # passed in october, can I do 60 a month"): heard first, a person offered when
            # vulnerable, then the request is answered (the note action steps back out of the way)
            result[domain.index_for_action(self.config["hardship_note_action"])] = 1.0
            return decided()
        if (
            tracker.get_slot(self.config["hold_slot"])
            and verified
            and intent.get("name") in self.config["collection_intents"]
        ):
            result[domain.index_for_action(self.config["hold_action"])] = 1.0
            return decided()
        if needs_confirmation(parse) and not _answers_a_question(tracker):
            # an act recorded against a real person, read with too little confidence: ask first
            # (data/clarification.yml); the answer comes back as the act read with certainty
            result[domain.index_for_action(self.config["confirm_action"])] = 1.0
            return decided()
        action = self.config["always_handle"].get(intent.get("name"))
        if action and (intent.get("confidence") or 0) >= self.config["intent_threshold"]:
            result[domain.index_for_action(action)] = 1.0
            return decided()
        if (
            intent.get("name") in self.config["requires_verification"]
            and not tracker.get_slot(self.config["verified_slot"])
            and not tracker.get_slot(self.config["locked_slot"])
            and not tracker.active_loop_name
        ):
            # nothing about the debt before right-party verification (15 U.S.C. 1692b; 12 CFR 1006.6(d));
            # the verification rules take over after this action
            result[domain.index_for_action(self.config["verification_action"])] = 1.0
            return self._prediction(result)
        return self._prediction(result)
