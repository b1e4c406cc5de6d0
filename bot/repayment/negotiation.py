"""What a debtor says while plans are on the table: which option they pick ("2", "the monthly
one", "the one that's 50 a month") and what they offer instead ("I can only do 40 a month",
"would you take 30%?", "can I settle for 1,000?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from bot.extraction import find_amounts, find_recurrences, normalise_numbers, today_in
from bot.money import Money
from bot.repayment.affordability import offered_amounts, read_statement
from bot.repayment.plans import PlanOption

ORDINALS = {
    "1": 0, "one": 0, "first": 0, "1st": 0, "a": 0,
    "2": 1, "two": 1, "second": 1, "2nd": 1, "b": 1, "middle": 1,
    "3": 2, "three": 2, "third": 2, "3rd": 2, "c": 2,
}  # fmt: skip
_CHOICE = re.compile(
    r"(?:\b(?:option|opt|plan|number|no\.?|choice)\s*|#\s*)(?P<n>[123]|one|two|three|[abc])\b"
    r"|^\s*(?:the\s+)?(?P<w>one|two|three)\s*(?:please|pls|thanks)?\s*[.!]?\s*$"
    r"|\b(?P<o>first|second|third|1st|2nd|3rd|middle|last)\b"
    r"|^\s*#?(?P<bare>[123])\s*[.!)]?\s*$",
    re.I,
)
KIND_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("fortnightly", re.compile(r"\b(fortnight\w*|bi-?weekly|every (two|2|other) weeks?)\b|两周|隔周", re.I)),
    ("weekly", re.compile(r"\bweekly\b|\b(a|per|each|every) week\b|按周|每周|每个星期", re.I)),
    (
        "monthly",
        re.compile(r"\bmonthly\b|\b(a|per|each|every) month\b|\bmonth(ly)? (one|plan|option)\b|按月|每月|每个月", re.I),
    ),
    ("settlement", re.compile(r"\b(settle\w*|discount\w*|reduced? total)\b|减免|结清|打折", re.I)),
    (
        "pay_in_full",
        re.compile(r"\b(in full|full (amount|balance)|lump ?sum|all of it|in one)\b|一次性还清|全额|全部还清", re.I),
    ),
    ("reduced_payments", re.compile(r"\b(reduced|token|smaller payments|lower payments)\b|少还|减少还款", re.I)),
    ("deferral", re.compile(r"\b(defer\w*|holiday|pause|break|breathing)\b|延期|暂停还款|缓一缓", re.I)),
]
FREQUENCY_WORDS = [(kind, pattern) for kind, pattern in KIND_WORDS if kind in ("fortnightly", "weekly", "monthly")]
_SETTLE = re.compile(r"\b(settle\w*|settlement|full and final|discount|take|accept)\b|结清|减免|打折", re.I)
_PERCENT = re.compile(r"(?P<p>\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per cent\b|pc\b)(?P<off>\s*(off|discount))?", re.I)
_OFFER_CUE = re.compile(
    r"\b(afford|only|manage|can (do|pay|give|spare)|could (do|pay|give|spare)|offer|how about|what about|"
    r"would you (take|accept)|instead|max|most)\b|只能|最多|能不能|可不可以|行不行|我能还|能还",
    re.I,
)
_ZH_CHOICE = re.compile(r"第\s*(?P<n>[一二三123])\s*[个种项条]?|(?P<m>[一二三123])\s*号?方案")
_ZH_NUMBERS = {"一": 0, "1": 0, "二": 1, "2": 1, "三": 2, "3": 2}


def choose_option(text: str, options: list[PlanOption]) -> int | None:
    """The 0-based index of the option ``text`` picks, or None when it is not clear.

    Numbers and ordinals ("2", "option two", "the second", "the last one", "第二个"), an option's kind
    or frequency ("the monthly one", "settle", "the token one"), cheapest/shortest, or the
    instalment amount ("the one that's 50 a month").
    """
    if not options:
        return None
    zh = _ZH_CHOICE.search(text)
    if zh:  # "第二个", "2号方案"
        picked = _ZH_NUMBERS[zh.group("n") or zh.group("m")]
        if picked < len(options):
            return picked
    match = _CHOICE.search(text)
    if match:
        word = (match.group("n") or match.group("w") or match.group("o") or match.group("bare") or "").lower()
        index = len(options) - 1 if word == "last" else ORDINALS.get(word)
        if index is not None and index < len(options):
            return index
    for kind, pattern in KIND_WORDS:
        if pattern.search(text):
            hits = [i for i, o in enumerate(options) if o.kind == kind or o.frequency == kind]
            if len(hits) == 1 or (hits and kind in ("fortnightly", "weekly", "monthly")):
                return hits[0]
    lowered = text.lower()
    if re.search(r"\b(cheapest|smallest|lowest|less per|lower payments?)\b", lowered):
        return min(range(len(options)), key=lambda i: options[i].schedule[0].amount.minor)
    if re.search(r"\b(shortest|quickest|fastest|soonest)\b", lowered):
        return min(range(len(options)), key=lambda i: len(options[i].schedule))
    currency = options[0].total.currency
    amounts = {a.money.minor for a in find_amounts(text, currency)}
    hits = [i for i, o in enumerate(options) if o.schedule[0].amount.minor in amounts]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True)
class Offer:
    """A debtor's own offer: ``kind`` is ``instalments`` (``amount`` each ``frequency``, from
    ``first_due`` when the debtor named a day: "40 every other friday") or ``settlement``
    (``amount`` once, the total)."""

    kind: str
    amount: Money
    frequency: str | None = None
    first_due: date | None = None


def _recurring(text: str, tz: str) -> tuple[str, date | None] | None:
    """(frequency, first due date in ``tz``) of a repeating schedule the text names ("every other
    Friday", "on the 1st of each month", "weekly on Mondays"), when it is one the plans offer."""
    for recurrence in find_recurrences(text):
        if recurrence.freq == "monthly" and recurrence.interval == 1:
            frequency = "monthly"
        elif recurrence.freq == "weekly" and recurrence.interval in (1, 2):
            frequency = "weekly" if recurrence.interval == 1 else "fortnightly"
        else:
            continue
        if recurrence.weekday is None and recurrence.month_day is None:
            return frequency, None
        # "every other friday" starts on the coming Friday, whichever week the rule counts from
        return frequency, replace(recurrence, interval=1).next_dates(today_in(tz), 1)[0]
    return None


def read_offer(text: str, balance: Money, tz: str = "UTC", settling: bool = False) -> Offer | None:
    """The offer in ``text``, or None when it makes none.

    "30%" or "30 percent" of the balance, or an amount with settle/discount words (or
    ``settling``: the debtor asked to settle), is a settlement total ("30% off" is a 30%
    discount). An amount with a period ("40 a month", "20 every other week") or an offer cue
    ("I can only do 40") is an instalment, monthly unless a period says otherwise; a schedule
    with a named day ("40 every other friday") starts on that day. Amounts the
    debtor labels as income or outgoings ("rent is 900") are not offers.
    """
    norm = normalise_numbers(text)
    percent = _PERCENT.search(norm)
    if percent:
        share = Decimal(percent.group("p")) / 100
        if share <= 0 or share > 1:
            return None
        share = 1 - share if percent.group("off") else share
        total = (Decimal(balance.minor) * share).to_integral_value()
        return Offer("settlement", Money(int(total), balance.currency))
    statement = read_statement(text, balance.currency, tz)
    if not statement.offers and not statement.unlabelled:
        return None
    # an amount after an offer phrase ("I can pay 40") is kept as said; an unlabelled one is monthly
    amount = statement.offers[0] if statement.offers else statement.unlabelled[0]
    recurring = _recurring(text, tz)
    if recurring is not None:
        raw = amount if statement.offers else next(a.money for a in offered_amounts(text, balance.currency, tz))
        return Offer("instalments", raw, recurring[0], recurring[1])
    frequency = next((kind for kind, pattern in FREQUENCY_WORDS if pattern.search(text)), None)
    if frequency is None and (settling or _SETTLE.search(text)):
        # the statement reader made it monthly only when a period word was there: none here
        return Offer("settlement", amount)
    if frequency is not None:
        raw = amount if statement.offers else next(a.money for a in offered_amounts(text, balance.currency, tz))
        return Offer("instalments", raw, frequency)
    if statement.offers or _OFFER_CUE.search(text):
        return Offer("instalments", amount, "monthly")
    return None


def is_regular(text: str) -> bool:
    """Whether ``text`` names a regular payment ("40 a month", "every other friday", "weekly on
    Mondays") rather than a one-off one."""
    return any(pattern.search(text) for _kind, pattern in FREQUENCY_WORDS) or bool(find_recurrences(text))


HAS_NUMBER = re.compile(
    r"\d|%|\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|hundred)\b"
    r"|[一二三四五六七八九十百千万两]",
    re.I,
)


def is_regular_amount(text: str) -> bool:
    """Whether ``text`` names a regular payment with a figure ("40 every other friday", "forty a
    month"): an offer of instalments, whichever intent it was read as."""
    return bool(HAS_NUMBER.search(text)) and is_regular(text)


def is_counter_offer(text: str) -> bool:
    """Whether ``text`` offers something instead ("I can only do 40", "would you take 30%")
    rather than picking an offered option by its amount ("the one that's 50 a month")."""
    return bool(_OFFER_CUE.search(text) or _PERCENT.search(normalise_numbers(text)))
