"""A policy for the turns while repayment options are on the table (slot ``plan_stage``).

- ``offered``: a pick ("2", "the monthly one", intent ``select_plan``, or a yes to a single
  option) runs ``select_action``; an amount offered instead ("I can only do 40 a month",
  "would you take 30%?"), whatever intent it was read as (promise_to_pay, request_payment_plan,
  ask_settlement, inform_finances, pay_in_full), runs ``offer_action`` to answer it.
- ``confirming``: yes runs ``record_action``, no runs ``offer_action`` (options again).
- Either stage: a corrected I&E figure ("sorry my rent is actually 1400"), whatever intent it
  was read as, runs ``ie_action`` (the I&E form), which re-plans.
- No options yet: a verified debtor's regular amount ("I can only do 5 a month"), read as a
  promise, a plan request or not understood, is an offer: ``offer_action`` answers it instead of
  the one-off promise form; a regular figure labelled as income or a cost ("rent is 900 a
  month") starts the I&E form.

Otherwise it abstains, and the rules and the other policies decide. SafetyPolicy (crisis,
opt-out, holds) has a higher priority and wins over this one.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.core.policies.policy import PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.repayment.affordability import read_statement
from bot.repayment.negotiation import HAS_NUMBER, is_regular
from policies.fixed_policy import FixedPolicy

_BARE_CHOICE = re.compile(r"^\s*(option|plan|number|#|第)?\s*[123一二三]\s*(个|种|项)?\s*[.!)。]?\s*$", re.I)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class PlanPolicy(FixedPolicy):
    """Routes replies to offered plans. Config: ``priority`` (default 7, above RulePolicy),
    ``stage_slot``, ``select_action``, ``offer_action``, ``record_action``, ``select_intents``,
    ``offer_intents``."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "priority": 7,
            "stage_slot": "plan_stage",
            "select_action": "action_select_plan",
            "offer_action": "action_offer_plans",
            "record_action": "action_record_arrangement",
            "select_intents": ["select_plan"],
            "ie_action": "ie_form",
            "verified_slot": "identity_verified",
            "regular_offer_intents": [
                "promise_to_pay",
                "request_payment_plan",
                "pay_in_full",
                "ask_settlement",
                "inform_finances",
                "nlu_fallback",
            ],
            "offer_intents": [
                "promise_to_pay",
                "pay_in_full",
                "request_payment_plan",
                "ask_settlement",
                "inform_finances",
                "select_plan",
                "nlu_fallback",
            ],
        }

    def _decide(self, tracker: DialogueStateTracker) -> str | None:
        stage = tracker.get_slot(self.config["stage_slot"])
        if tracker.active_loop_name:
            return None
        parse = tracker.latest_message.parse_data
        intent = (parse.get("intent") or {}).get("name")
        text = parse.get("text") or ""
        if not (stage or HAS_NUMBER.search(text)):
            return None  # most turns: nothing on the table and no figure said

        def labelled() -> bool:
            statement = read_statement(text, "USD")  # only the labels matter here, not the currency
            return statement.income is not None or bool(statement.outgoings)

        if not stage:
            regular = is_regular(text)
            if (
                tracker.get_slot(self.config["verified_slot"])
                and intent in self.config["regular_offer_intents"]
                and regular
                and HAS_NUMBER.search(text)
            ):
                return str(self.config["ie_action"] if labelled() else self.config["offer_action"])
            return None
        if labelled():
            return str(self.config["ie_action"])
        if stage == "confirming":
            if intent == "affirm":
                return str(self.config["record_action"])
            if intent == "deny":
                return str(self.config["offer_action"])
            if intent in self.config["select_intents"] or _BARE_CHOICE.match(text):
                return str(self.config["select_action"])
            return None
        if _BARE_CHOICE.match(text) or intent == "affirm":
            return str(self.config["select_action"])
        if intent in self.config["offer_intents"] and HAS_NUMBER.search(text) and intent != "select_plan":
            return str(self.config["offer_action"])
        if intent in self.config["select_intents"]:
            return str(self.config["select_action"])
        return None

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        own = {self.config["select_action"], self.config["offer_action"], self.config["record_action"]}
        if tracker.latest_action_name in own and tracker.get_slot(self.config["stage_slot"]):
            result[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
            return self._prediction(result)
        if tracker.latest_action_name == self.config["ie_action"] and not tracker.active_loop_name:
            # the I&E form finished, also when this policy started it for a correction
            result[domain.index_for_action(self.config["offer_action"])] = 1.0
            return self._prediction(result)
        if tracker.latest_action_name != ACTION_LISTEN_NAME:
            return self._prediction(result)
        action = self._decide(tracker)
        if action:
            result[domain.index_for_action(action)] = 1.0
        return self._prediction(result)
