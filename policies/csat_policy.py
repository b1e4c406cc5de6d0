"""A policy that takes the reply to the CSAT question as its answer.

``action_end_conversation`` asks "how did we do, 1 to 5?" once. A reply that is only a rating
("4", "five", "5/5", DTMF "5") right after that question gets ``action_record_csat``, whatever
intent NLU gave it: a bare digit carries no intent the NLU was trained on, and teaching it one
would make every "5" in a verification or promise look like a rating. Anything else after the
question is an ordinary message. After its action it predicts ``action_listen``; otherwise it
abstains (all zeros).
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.kpis import parse_rating
from policies.fixed_policy import FixedPolicy


def asked_just_before(tracker: DialogueStateTracker, question_action: str) -> bool:
    """Whether the last action before the latest user message (``action_listen`` aside) was
    ``question_action``: the message is the reply to the question, not a later one."""
    seen_user = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if seen_user:
                return False
            seen_user = True
        elif seen_user and isinstance(event, ActionExecuted) and event.action_name != ACTION_LISTEN_NAME:
            return event.action_name == question_action
    return False


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class CsatPolicy(FixedPolicy):
    """Config: ``priority`` (default 9), ``question_action`` (the action that asks),
    ``asked_slot``, ``score_slot``, ``record_action``."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "priority": 9,
            "question_action": "action_end_conversation",
            "asked_slot": "csat_asked",
            "score_slot": "csat_score",
            "record_action": "action_record_csat",
        }

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        if tracker.latest_action_name == self.config["record_action"]:
            result[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
            return self._prediction(result, is_no_user_prediction=True)
        if (
            tracker.latest_action_name == ACTION_LISTEN_NAME
            and tracker.get_slot(self.config["asked_slot"])
            and tracker.get_slot(self.config["score_slot"]) is None
            and parse_rating(tracker.latest_message.text if tracker.latest_message else None) is not None
            and asked_just_before(tracker, self.config["question_action"])
        ):
            result[domain.index_for_action(self.config["record_action"])] = 1.0
            return self._prediction(result, is_no_user_prediction=True)
        return self._prediction(result)
