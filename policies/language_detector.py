"""NLU component: the language a message is written in (``bot/language.py``), as the entity
``language`` that fills the slot of the same name, so a debtor who writes Chinese is answered in
Chinese from that message on, and one who switches back to English is answered in English. A
message that does not say ("ok", a date of birth) sets nothing."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language import detect

ENTITY = "language"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    """Adds the entity ``language`` ("en", "zh") to a message that says which it is written in."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add the ``language`` entity where the text decides it."""
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect(text)
            if language is None:
                continue
            found = [{"entity": ENTITY, "start": 0, "end": len(text), "value": language, "confidence": 1.0}]
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages
