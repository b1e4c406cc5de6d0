"""What a debtor's question about us or about consequences is about ("will you sue me", "is this a
scam", "who is this"), read from its words (``data/questions.yml``), so the answer is the factual
one for that topic."""

from __future__ import annotations

import re
from functools import cache

from bot.settings import DataFileError, read_data_file, required_field

DEFAULT_TOPIC = "why"


@cache
def question_topics() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(topic, pattern) pairs in file order. Raises DataFileError naming the topic."""
    file = "questions.yml"
    topics = required_field(read_data_file(file), "topics", file)
    if not isinstance(topics, dict):
        raise DataFileError(f"data/{file}: 'topics' must map topics to words")
    out = []
    for topic, words in topics.items():
        if not isinstance(words, list) or not words:
            raise DataFileError(f"data/{file}: 'topics.{topic}' must list words")
        latin = [w for w in words if w.isascii()]
        han = [w for w in words if not w.isascii()]
        parts = [r"\b(?:" + "|".join(re.escape(w) for w in latin) + r")\b"] if latin else []
        parts += [re.escape(w) for w in han]  # no word boundaries in Chinese
        out.append((str(topic), re.compile("|".join(parts), re.I)))
    return tuple(out)


def question_topic(text: str) -> str:
    """The topic of a question: jail, lawsuit, garnish, credit, scam, consequences, who, or
    :data:`DEFAULT_TOPIC` ("why are you contacting me") when no topic's words appear."""
    normalised = text.replace("’", "'")
    return next((topic for topic, pattern in question_topics() if pattern.search(normalised)), DEFAULT_TOPIC)
