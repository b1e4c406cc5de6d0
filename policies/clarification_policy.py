"""A policy that asks instead of guessing (``bot/clarification.py``, ``data/clarification.yml``).

- A message not understood (``nlu_fallback``) whose ranking holds requests worth offering gets
  ``ask_action``: a numbered question between them ("Did you mean: 1. ... 2. ...?").
- The next message, when it answers that question ("2", "the first one", a yes to a single
  choice, a no), gets ``resolve_action``, which replaces the question and its answer by the
  original message read as the chosen intent, so the dialogue goes on as if it had been
  understood; a no gets a request to say it in other words. Any other message is a new request
  and goes to the other policies.

SafetyPolicy (a higher priority) asks the same question to confirm an act (a dispute, an
opt-out, ...) read with too little confidence, and handles crisis language before any question.
Inside a form the form reads the answers; this policy abstains.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.clarification import answered_as_offer, candidates, clarification_rules, has_words, read_choice
from policies.fixed_policy import FixedPolicy

ASK_ACTION = "action_ask_clarification"
RESOLVE_ACTION = "action_resolve_clarification"


def question_asked(tracker: DialogueStateTracker) -> dict[str, Any] | None:
    """The parse data of the message a clarification question was asked about, when the bot's
    last action before the latest user message asked it; else None."""
    events = tracker.applied_events()
    users = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
    if len(users) < 2:
        return None
    latest, previous = users[-1], users[-2]
    asked = [
        e.action_name
        for e in events[previous:latest]
        if isinstance(e, ActionExecuted) and e.action_name != ACTION_LISTEN_NAME
    ]
    if not asked or asked[-1] != ASK_ACTION:
        return None
    original: UserUttered = events[previous]
    return dict(original.parse_data)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class ClarificationPolicy(FixedPolicy):
    """Config: ``priority`` (default 8: above PlanPolicy, whose numbered choices it must not
    take, and below SafetyPolicy)."""

    def __init__(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        clarification_rules()  # a bad data/clarification.yml stops training and loading
        super().__init__(config, *args, **kwargs)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": 8}

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        if tracker.latest_action_name in (ASK_ACTION, RESOLVE_ACTION):
            # after the question, or after a "no" to it (a chosen answer replaces the question and
            # its answer by the original message, so the last action is the listen before it);
            # inside a form the "no" must not become the answer to the form's question
            result[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
            return self._prediction(result, is_no_user_prediction=bool(tracker.active_loop_name))
        if tracker.latest_action_name != ACTION_LISTEN_NAME:
            return self._prediction(result)
        parse = tracker.latest_message.parse_data if tracker.latest_message else {}
        original = question_asked(tracker)
        if original is not None:  # also inside a form: SafetyPolicy confirms acts there too
            offered = candidates(original)
            intent = (parse.get("intent") or {}).get("name")
            no_words = not has_words(str(original.get("text") or "x"))
            if read_choice(parse.get("text") or "", intent, offered) is not None or (
                no_words and intent in ("affirm", "deny")
            ):
                # a yes or no to "tell me in words" answers nothing: the action asks again
                result[domain.index_for_action(RESOLVE_ACTION)] = 1.0
                # marked as RulePolicy marks "continue the form": an answer inside a form is ours
                return self._prediction(result, is_no_user_prediction=True)
            return self._prediction(result)
        if tracker.active_loop_name:
            return self._prediction(result)
        text = str(parse.get("text") or "")
        if (parse.get("intent") or {}).get("name") == "nlu_fallback" and (
            candidates(parse) or (text.strip() and not has_words(text))
        ):
            if answered_as_offer(parse, bool(tracker.get_slot("identity_verified"))):
                return self._prediction(result)  # the plan policy answers the offer
            # a choice between likely requests, or for emoji and symbols alone a request for words
            result[domain.index_for_action(ASK_ACTION)] = 1.0
            return self._prediction(result)
        return self._prediction(result)
