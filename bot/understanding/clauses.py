"""Clauses of a long message, for reading what one part of it says.

Real debtors write run-on messages that carry several things at once ("sorry for the delay. my
hours got cut in march. can we do 40 a month"): the whole message's embedding averages them, so
a hardship told in passing, or the one request among three sentences of context, is blurred.
:func:`clauses` cuts a message where its writer ended a sentence; Chinese writers run sentences
together with commas (and voice input with spaces), so in Han text a comma or a space ends a
clause too. Used by the intent model (:func:`bot.understanding.intents.clause_ranking`) and the
hardship classifier (:mod:`bot.hardship`).
"""

from __future__ import annotations

import re

from bot.understanding.text import HAN

SENTENCE_END = re.compile(r"(?<=[.!?。！？;；…])\s*|\n+")
HAN_CLAUSE_END = re.compile(r"[，,、\s]+")
# a clause this short (a Han character counting two) is a fragment: "ok.", "嗯，"
MIN_CLAUSE_SIZE = 8


def clause_size(text: str) -> int:
    """Characters of ``text`` with each Han character counted twice (a Han character carries
    about as much as a short English word)."""
    return len(text) + len(HAN.findall(text))


def clauses(text: str, han_commas: bool = True) -> list[str]:
    """The clauses of ``text`` of at least :data:`MIN_CLAUSE_SIZE`, in order: ``[]`` when the
    message has fewer than two (a one-clause message is read whole). With ``han_commas`` false,
    Han text is cut at sentence ends only."""
    parts = [p.strip() for p in SENTENCE_END.split(text)]
    if han_commas and HAN.search(text):
        parts = [q.strip() for p in parts for q in HAN_CLAUSE_END.split(p)]
    kept = [p for p in parts if clause_size(p) >= MIN_CLAUSE_SIZE]
    return kept if len(kept) > 1 else []
