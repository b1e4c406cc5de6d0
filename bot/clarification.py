"""Asking instead of guessing: which intents to offer when a message was not understood or an act
needs confirming, and how to read the reply (``data/clarification.yml``).

Rasa's two-stage fallback offers the top intents as buttons whose payloads are ``/intent``
commands, which this project's channels refuse (a debtor must not force intents); here the
choices are numbered, so a reply of "1", "the second" or a keypad digit picks one on SMS, voice and
web chat alike, and a yes or no answers a single one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot.repayment.negotiation import is_regular_amount
from bot.settings import DataFileError, read_data_file, required_field

FALLBACK_INTENT = "nlu_fallback"
DECLINED = -1  # the reply said no to every choice


@dataclass(frozen=True)
class ClarificationRules:
    """``candidate_floor`` (0..1) and ``max_candidates`` for a message not understood; intents
    never offered; ``confirm_intents`` confirmed below ``act_threshold`` (0..1); ``ordinals``:
    words for each choice number (1-based); ``amount_offer_intents``: acts that all mean "here
    is what I can pay" (see :func:`answered_as_offer`)."""

    candidate_floor: float
    max_candidates: int
    never_offer: frozenset[str]
    confirm_intents: frozenset[str]
    act_threshold: float
    ordinals: dict[int, tuple[str, ...]]
    amount_offer_intents: frozenset[str] = frozenset()


@cache
def clarification_rules() -> ClarificationRules:
    """Parsed ``data/clarification.yml``. Raises DataFileError naming the field."""
    file = "clarification.yml"
    raw = read_data_file(file)
    numbers: dict[str, float] = {}
    for name in ("candidate_floor", "act_threshold"):
        value = required_field(raw, name, file)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise DataFileError(f"data/{file}: '{name}' must be a number from 0 to 1")
        numbers[name] = float(value)
    most = required_field(raw, "max_candidates", file)
    if not isinstance(most, int) or not 1 <= most <= 3:
        raise DataFileError(f"data/{file}: 'max_candidates' must be 1, 2 or 3")
    ordinals = required_field(raw, "ordinals", file)
    if not isinstance(ordinals, dict) or not set(range(1, most + 1)) <= set(ordinals):
        raise DataFileError(f"data/{file}: 'ordinals' must give words for choices 1 to {most}")
    return ClarificationRules(
        candidate_floor=numbers["candidate_floor"],
        max_candidates=most,
        never_offer=frozenset(required_field(raw, "never_offer", file)),
        confirm_intents=frozenset(required_field(raw, "confirm_intents", file)),
        act_threshold=numbers["act_threshold"],
        ordinals={int(k): tuple(str(w).lower() for w in v) for k, v in ordinals.items()},
        amount_offer_intents=frozenset(raw.get("amount_offer_intents") or ()),
    )


def _top(parse: dict[str, Any]) -> tuple[str | None, float]:
    intent = parse.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def needs_confirmation(parse: dict[str, Any], rules: ClarificationRules | None = None) -> str | None:
    """The top intent of a Rasa parse result when it is an act to confirm (``confirm_intents``)
    read with less confidence than ``act_threshold``; else None."""
    rules = rules or clarification_rules()
    name, confidence = _top(parse)
    return name if name in rules.confirm_intents and confidence < rules.act_threshold else None


def has_words(text: str) -> bool:
    """Whether ``text`` has a letter or a digit in any script (not only emoji, symbols or
    punctuation)."""
    return any(c.isalnum() for c in text)


def candidates(parse: dict[str, Any], rules: ClarificationRules | None = None) -> list[str]:
    """The intents to offer for a message (a Rasa parse result): the act to confirm, or for a
    message not understood the most confident offerable intents of its ranking; [] when there is
    nothing worth asking about."""
    rules = rules or clarification_rules()
    text = parse.get("text")
    if isinstance(text, str) and text.strip() and not has_words(text):
        return []  # emoji or symbols alone: any choice would be a guess (the bot asks for words)
    confirm = needs_confirmation(parse, rules)
    if confirm:
        return [confirm]
    name, _ = _top(parse)
    if name != FALLBACK_INTENT:
        return []
    ranking = sorted(parse.get("intent_ranking") or [], key=lambda r: -float(r.get("confidence") or 0.0))
    offered = [
        str(r["name"])
        for r in ranking
        if r.get("name") not in rules.never_offer and float(r.get("confidence") or 0.0) >= rules.candidate_floor
    ]
    return offered[: rules.max_candidates]


_DIGIT = re.compile(r"^\s*(?:option|number|no\.?|#|第)?\s*([1-9])\s*(?:个|号)?\s*[.!)。]?\s*$", re.I)


def read_choice(
    text: str, intent: str | None, offered: list[str], rules: ClarificationRules | None = None
) -> int | None:
    """Which of ``offered`` (0-based) a reply picks: a number or ordinal word ("2", "the first"),
    a yes to a single choice (intent ``affirm``), the offered intent itself; :data:`DECLINED` for a
    no (intent ``deny``); None when the reply is not an answer (a new message)."""
    rules = rules or clarification_rules()
    if not offered:
        return None
    cleaned = text.strip().lower()
    match = _DIGIT.match(cleaned)
    number = int(match.group(1)) if match else None
    if number is None:
        words = re.sub(r"^(the|a|an)\s+", "", re.sub(r"[^\w\s]", " ", cleaned)).strip()
        words = re.sub(r"\s+(one|choice|option)$", "", words) if words not in ("one",) else words
        number = next((n for n, names in rules.ordinals.items() if words in names), None)
    if number is not None:
        return number - 1 if number <= len(offered) else None
    if intent == "affirm" and len(offered) == 1:
        return 0
    if intent == "deny":
        return DECLINED
    if intent in offered:
        return offered.index(intent)
    return None


def answered_as_offer(parse: dict[str, Any], verified: bool, rules: ClarificationRules | None = None) -> bool:
    """Whether a message not understood needs no question because every choice would be an
    amount offer (``amount_offer_intents``) and it names a regular amount ("can i do 40 every
    other friday": a promise or a plan?): for a verified debtor the plan policy answers it as an
    offer of instalments. ``parse`` is Rasa's parse data."""
    rules = rules or clarification_rules()
    offered = candidates(parse, rules)
    return (
        verified
        and bool(offered)
        and set(offered) <= rules.amount_offer_intents
        and is_regular_amount(str(parse.get("text") or ""))
    )
