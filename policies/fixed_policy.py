"""Base of the project's rule-like policies: they decide from the tracker and learn nothing."""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates


class FixedPolicy(Policy):
    """A policy with fixed behaviour: training stores nothing; subclasses implement
    ``predict_action_probabilities`` (and register themselves with the recipe)."""

    def train(self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        """Nothing to learn: the behaviour is fixed."""
        return self._resource
