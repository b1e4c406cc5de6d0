"""The Rasa server's NLG: each response in the conversation's language (slot ``language``), from
``bot/responses.py``; Rasa's own choice among a response's variations (conditions, channel) is kept.
Configured in ``endpoints.yml`` (``nlg: type: channels.nlg.LanguageNaturalLanguageGenerator``)."""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.responses import language_responses, languages

LANGUAGE_SLOT = "language"


class LanguageNaturalLanguageGenerator(TemplatedNaturalLanguageGenerator):
    """Rasa's templated NLG over the domain's responses, and one per other language over that
    language's; a response a language lacks is said in the domain's language."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None) -> None:
        super().__init__(domain.responses if domain else {})
        self.by_language = {
            language: TemplatedNaturalLanguageGenerator(language_responses(language)) for language in languages()[1:]
        }

    async def generate(
        self, utter_action: str, tracker: DialogueStateTracker, output_channel: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        own = self.by_language.get(str(tracker.get_slot(LANGUAGE_SLOT) or ""))
        if own is not None and utter_action in own.responses:
            return await own.generate(utter_action, tracker, output_channel, **kwargs)
        return await super().generate(utter_action, tracker, output_channel, **kwargs)
