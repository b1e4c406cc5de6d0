"""NLU component: ``amount``, ``date`` and ``recurrence`` entities (bot.extraction), with spaCy's
MONEY/DATE/CARDINAL spans as extra candidates.

Values: ``amount`` → ``{"amount": "50.00", "currency": "USD"}`` (Decimal string); ``date`` →
ISO date; ``recurrence`` → ``{"freq", "interval", "weekday", "month_day", "rrule", "next"}``.
NLU does not know the debtor, so currency defaults to ``default_currency`` and dates resolve in
``time_zone``; actions re-read the text in the account's currency and zone. spaCy's raw entities
are replaced by these normalised ones (its tags miss or mislabel amounts such as "1,250.00").
Chinese text is read by the Chinese rules; so is any text when the sender context in the message's
metadata says the conversation is in Chinese ("2.5w").
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.context import SENDER_KEY
from bot.extraction import find_amounts, find_dates, find_recurrences, looking_back, normalise_numbers, today_in

SPACY_LABELS = {"MONEY", "DATE", "CARDINAL"}


def message_language(message: Message) -> str | None:
    """The conversation's language from the sender context in the message's metadata, if any."""
    metadata = message.get("metadata")
    sender = metadata.get(SENDER_KEY) if isinstance(metadata, dict) else None
    language = sender.get("language") if isinstance(sender, dict) else None
    return language if isinstance(language, str) else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class MoneyDateExtractor(GraphComponent, EntityExtractorMixin):
    """Adds ``amount`` and ``date`` entities to every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # past_intents: intents whose dates report something done (a payment made), read looking back
        return {"default_currency": "USD", "time_zone": "UTC", "date_order": "MDY", "past_intents": ["already_paid"]}

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

    def _entities(self, text: str, language: str | None = None, intent: str | None = None) -> list[dict[str, Any]]:
        # offsets are exact unless spelled-out numbers were rewritten; then the whole text is the span
        exact = normalise_numbers(text) == text

        def span(start: int, end: int) -> tuple[int, int]:
            return (start, end) if exact else (0, len(text))

        out: list[dict[str, Any]] = []
        for a in find_amounts(text, self.config["default_currency"], self.config["time_zone"], language=language):
            s, e = span(a.start, a.end)
            out.append({"entity": "amount", "start": s, "end": e, "value": a.money.as_entity(), "confidence": 1.0})
        today = today_in(self.config["time_zone"])
        for d in find_dates(text, self.config["time_zone"], date_order=self.config["date_order"], language=language):
            s, e = span(d.start, d.end)
            value = looking_back(d, today) if intent in self.config.get("past_intents", ()) else d.value
            out.append({"entity": "date", "start": s, "end": e, "value": value.isoformat(), "confidence": 1.0})
        for r in find_recurrences(text, language):
            s, e = span(r.start, r.end)
            out.append({"entity": "recurrence", "start": s, "end": e, "value": r.as_entity(today), "confidence": 1.0})
        return out

    def _from_spacy(
        self, text: str, spacy_entities: list[dict[str, Any]], ours: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Amounts and dates inside spaCy MONEY/DATE spans that the rules did not already cover."""
        kinds = {"MONEY": "amount", "DATE": "date"}
        extra: list[dict[str, Any]] = []
        for ent in spacy_entities:
            kind = kinds.get(ent.get("entity", ""))
            start, end = int(ent.get("start", 0)), int(ent.get("end", 0))
            if kind is None or any(o["entity"] == kind and start < o["end"] and o["start"] < end for o in ours):
                continue
            piece = text[start:end]
            if kind == "amount":
                values: list[Any] = [
                    a.money.as_entity()
                    for a in find_amounts(piece, self.config["default_currency"], self.config["time_zone"])
                ]
            else:
                values = [
                    d.value.isoformat()
                    for d in find_dates(piece, self.config["time_zone"], date_order=self.config["date_order"])
                ]
            extra.extend(
                {"entity": kind, "start": start, "end": end, "value": v, "confidence": 0.9} for v in values[:1]
            )
        return extra

    def process(self, messages: list[Message]) -> list[Message]:
        """Append the entities to each message (existing entities are kept)."""
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            existing = message.get(ENTITIES, [])
            spacy_entities = [e for e in existing if e.get("entity") in SPACY_LABELS]
            kept = [e for e in existing if e.get("entity") not in SPACY_LABELS]
            # a payment reported as made looks back; promises look forward
            intent = (message.get(INTENT) or {}).get("name")
            ours = self._entities(text, message_language(message), intent)
            found = self.add_extractor_name(ours + self._from_spacy(text, spacy_entities, ours))
            message.set(ENTITIES, kept + found, add_to_output=True)
        return messages
