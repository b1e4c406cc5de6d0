"""NLU component: a message made only of emoji that mean a request ("👍", "👎") is read as that
intent with certainty (``bot/emoji.py``, ``data/emoji.yml``). It runs after the FallbackClassifier:
the model sees nothing in an emoji and would call the message not understood."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.emoji import emoji_intent, emoji_intents


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class EmojiIntents(GraphComponent):
    """Sets the intent of an emoji-only message that means one (``data/emoji.yml``)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        emoji_intents()  # a bad data/emoji.yml stops training and loading

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmojiIntents:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        """Replace the intent and ranking of emoji-only messages that mean an intent."""
        for message in messages:
            intent = emoji_intent(message.get(TEXT) or "")
            if intent is None:
                continue
            message.set(INTENT, {"name": intent, "confidence": 1.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 1.0}], add_to_output=True)
        return messages
