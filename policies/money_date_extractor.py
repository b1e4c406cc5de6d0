"""NLU component: ``amount`` and ``date`` entities from rules over the text (bot.extraction).

Values: ``amount`` → ``{"amount": "50.00", "currency": "USD"}`` (Decimal string); ``date`` →
ISO date. NLU does not know the debtor, so currency defaults to ``default_currency`` and dates
resolve in ``time_zone``; actions re-read the text in the account's currency and zone.
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

from bot.extraction import find_amounts, find_dates, normalise_numbers


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class MoneyDateExtractor(GraphComponent, EntityExtractorMixin):
    """Adds ``amount`` and ``date`` entities to every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"default_currency": "USD", "time_zone": "UTC", "date_order": "MDY"}

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MoneyDateExtractor:
        return cls(config)

    def _entities(self, text: str) -> list[dict[str, Any]]:
        # offsets are exact unless spelled-out numbers were rewritten; then the whole text is the span
        exact = normalise_numbers(text) == text

        def span(start: int, end: int) -> tuple[int, int]:
            return (start, end) if exact else (0, len(text))

        out: list[dict[str, Any]] = []
        for a in find_amounts(text, self.config["default_currency"], self.config["time_zone"]):
            s, e = span(a.start, a.end)
            out.append({"entity": "amount", "start": s, "end": e, "value": a.money.as_entity(), "confidence": 1.0})
        for d in find_dates(text, self.config["time_zone"], date_order=self.config["date_order"]):
            s, e = span(d.start, d.end)
            out.append({"entity": "date", "start": s, "end": e, "value": d.value.isoformat(), "confidence": 1.0})
        return out

    def process(self, messages: list[Message]) -> list[Message]:
        """Append the entities to each message (existing entities are kept)."""
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = self.add_extractor_name(self._entities(text))
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
