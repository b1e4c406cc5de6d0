"""Dense NLU featurizer: the project's sentence embedding (``bot.embeddings.ENCODER``) of each
message text.

Adds sentence features only; the embedding-led intent classifier and the hardship classifier read
the same vector (cached per text in ``bot.embeddings.encode_one``). The encoder loads offline from
its PyPI package (see bot.embeddings).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.embeddings import encode, encode_one


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceTransformerFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence features from the project's sentence encoder for the ``text`` attribute."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config()}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceTransformerFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass

    def process(self, messages: list[Message]) -> list[Message]:
        """Embed every message that has text."""
        with_text = [m for m in messages if m.get(TEXT)]
        # one message at a time at run time (cached for the hardship classifier), batches in training
        vectors = (
            [encode_one(with_text[0].get(TEXT))] if len(with_text) == 1 else encode([m.get(TEXT) for m in with_text])
        )
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(None, vector.reshape(1, -1), TEXT, message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurise all training examples with text."""
        self.process(training_data.training_examples)
        return training_data
