"""NLU intent classifier led by the sentence embedding (:mod:`bot.understanding.intents`).

A logistic regression on the message's sentence embedding (the dense sentence features of
``SentenceTransformerFeaturizer``), pooled with one on character and word n-grams of the text,
with probabilities calibrated by a temperature fitted out of fold, so that ``FallbackClassifier``'s
threshold is a confidence. Sets ``intent`` and ``intent_ranking`` as Rasa's classifiers do.
The model is stored as numpy arrays and JSON (no pickle).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.embeddings import encode
from bot.understanding.intents import IntentModel, IntentSettings, clause_ranking, train

META = "intent_model.json"
ARRAYS = "intent_model.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class EmbeddingIntentClassifier(GraphComponent, IntentClassifier):
    """Config: the :class:`bot.understanding.intents.IntentSettings` fields and ``ranking_length``."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [DenseFeaturizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **IntentSettings().__dict__,
            "char_ngrams": [2, 4],
            "ranking_length": 10,
            # bot.understanding.intents.clause_ranking: the fallback threshold, and intents never raised
            "clause_threshold": 0.0,
            "clause_framing_intents": [],
        }

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, model: IntentModel | None
    ) -> None:
        self.config = config
        self._storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmbeddingIntentClassifier:
        return cls(config, model_storage, resource, None)

    @staticmethod
    def _embedding(message: Message) -> np.ndarray[Any, Any] | None:
        _, sentence = message.get_dense_features(TEXT)
        return None if sentence is None else np.asarray(sentence.features).reshape(-1)

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on every intent example that has text and sentence features."""
        examples = [
            (m.get(TEXT), vector, m.get(INTENT))
            for m in training_data.intent_examples
            if m.get(TEXT) and (vector := self._embedding(m)) is not None
        ]
        if len({intent for _, _, intent in examples}) < 2:
            raise ValueError("EmbeddingIntentClassifier needs examples of at least two intents with sentence features")
        texts = [t for t, _, _ in examples]
        self.model = train(
            texts,
            np.stack([v for _, v, _ in examples]),
            [i for _, _, i in examples],
            IntentSettings.from_config(self.config),
        )
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Set ``intent`` and ``intent_ranking`` (calibrated probabilities, most likely first)."""
        for message in messages:
            vector = self._embedding(message)
            if self.model is None or vector is None or not message.get(TEXT):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            ranking = clause_ranking(
                self.model,
                message.get(TEXT),
                vector,
                float(self.config["clause_threshold"]),
                encode,
                self.config["clause_framing_intents"],
                int(self.config["ranking_length"]),
            )
            message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
        return messages

    def persist(self) -> None:
        """Write the model as JSON metadata and an .npz of arrays."""
        if self.model is None:
            return
        meta, arrays = self.model.to_arrays()
        with self._storage.write_to(self._resource) as folder:
            (folder / META).write_text(json.dumps(meta, ensure_ascii=False))
            np.savez_compressed(folder / ARRAYS, **arrays)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EmbeddingIntentClassifier:
        """The trained model (an untrained component when none was stored)."""
        try:
            with model_storage.read_from(resource) as folder:
                meta = json.loads((folder / META).read_text())
                with np.load(folder / ARRAYS, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
            return cls(config, model_storage, resource, IntentModel.from_arrays(meta, arrays))
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource, None)
