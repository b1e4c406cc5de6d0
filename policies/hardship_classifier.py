"""NLU component: hardship and vulnerability (bot.hardship) on every message.

Adds to the parse result a ``hardship`` object (type, confidence, duration, vulnerable,
vulnerability, crisis, evidence) and the entities ``hardship_type`` and ``vulnerable`` that fill
the slots of the same names. A hardship can ride inside any intent.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.hardship import HardshipClassifier, default_classifier

HARDSHIP = "hardship"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class HardshipClassifierComponent(GraphComponent, EntityExtractorMixin):
    """Runs :class:`bot.hardship.HardshipClassifier` over each message text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any], classifier: HardshipClassifier) -> None:
        self.config = config
        self.classifier = classifier

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> HardshipClassifierComponent:
        return cls(config, default_classifier())

    def process(self, messages: list[Message]) -> list[Message]:
        """Set ``hardship`` on each message and add the slot-filling entities."""
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            result = self.classifier.classify(text)
            message.set(HARDSHIP, result.as_dict(), add_to_output=True)
            found = []
            if result.type:
                found.append(
                    {
                        "entity": "hardship_type",
                        "start": 0,
                        "end": len(text),
                        "value": result.type,
                        "confidence": result.confidence,
                    }
                )
            if result.vulnerable:
                found.append({"entity": "vulnerable", "start": 0, "end": len(text), "value": "true", "confidence": 1.0})
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages
