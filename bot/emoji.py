"""Messages made only of emoji that mean a request ("👍" is yes, "👎" is no), from
``data/emoji.yml``. Plain Python: the NLU component :mod:`policies.emoji_intents` adapts it."""

from __future__ import annotations

from functools import cache

from bot.settings import DataFileError, read_data_file, required_field

# modifiers that change how an emoji looks, not what it means
_IGNORED = {"\ufe0f", "\ufe0e", "\u200d", *(chr(c) for c in range(0x1F3FB, 0x1F400))}


@cache
def emoji_intents() -> dict[str, str]:
    """{emoji: intent} from ``data/emoji.yml``. Raises DataFileError naming the field when the
    file is malformed or an emoji is given for two intents."""
    raw = required_field(read_data_file("emoji.yml"), "intents", "emoji.yml")
    if not isinstance(raw, dict):
        raise DataFileError("data/emoji.yml: 'intents' must map intents to lists of emoji")
    out: dict[str, str] = {}
    for intent, signs in raw.items():
        if not isinstance(signs, list) or not all(isinstance(s, str) and s for s in signs):
            raise DataFileError(f"data/emoji.yml: 'intents.{intent}' must be a list of emoji")
        for sign in signs:
            key = _bare(sign)
            if key in out and out[key] != intent:
                raise DataFileError(f"data/emoji.yml: {sign!r} is given for {out[key]} and {intent}")
            out[key] = str(intent)
    return out


def _bare(text: str) -> str:
    return "".join(c for c in text if c not in _IGNORED and not c.isspace())


def emoji_intent(text: str) -> str | None:
    """The intent of a message made only of emoji that all mean it ("👍", "👍🏽👍", "✅ ✅"), or
    None (words, an unknown emoji, or emoji of different intents)."""
    bare = _bare(text)
    if not bare:
        return None
    table = emoji_intents()
    found = {table.get(c) for c in bare}
    if len(found) != 1 or None in found:
        return None
    return found.pop()
