"""Every response the dialogue can say exists in every language, with the same placeholders,
conditions and channel variations (bot/responses.py); every text outside the responses likewise
(bot/texts.py)."""

from __future__ import annotations

import re

from bot.responses import domain_responses, first_text, language_responses, languages
from bot.texts import languages as text_languages
from bot.texts import texts_for


def _shape(variations: list[dict[str, object]]) -> list[tuple[object, str, list[str]]]:
    return [
        (v.get("channel"), str(v.get("condition")), sorted(set(re.findall(r"\{(\w+)\}", str(v["text"])))))
        for v in variations
    ]


def test_every_response_is_in_every_language_with_the_same_shape() -> None:
    assert languages() == ("en", "zh")
    english = domain_responses()
    for language in languages()[1:]:
        own = language_responses(language)
        assert sorted(set(english) - set(own)) == [], f"{language}: untranslated responses"
        for name, variations in own.items():
            assert _shape(variations) == _shape(english[name]), f"{language}:{name}"


def test_every_text_is_in_every_language_and_falls_back_to_english() -> None:
    assert text_languages() == ("en", "zh")
    assert texts_for("zh").get("sms.stop_confirmed") != texts_for("en").get("sms.stop_confirmed")
    assert texts_for("xx") == texts_for("en")  # a language with no file is answered in English
    assert first_text("utter_goodbye", "zh") != first_text("utter_goodbye", "en")
    assert first_text("utter_goodbye", "xx") == first_text("utter_goodbye", "en")
