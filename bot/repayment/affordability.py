"""Income and expenditure (I&E) read from what the debtor says, and the disposable income the
plan engine must not exceed.

"about 2k a month" → income 2,000.00 a month; "rent is 900, food 300 and 50 a week on petrol" →
home_and_contents 900.00, food_and_housekeeping 300.00, transport_and_travel 216.67 a month.
Outgoing categories are the Standard Financial Statement (SFS) spending groups; keywords, period
words and skip phrases are data (``data/income_expenditure.yml``). All figures are monthly
:class:`bot.money.Money` (minor units); weekly and other periods are converted exactly
(amount × periods per year / 12, rounded half up to the minor unit).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.extraction import AmountSpan, find_amounts
from bot.money import Money, MoneyError
from bot.settings import DATA as DATA_DIR
from bot.settings import DataFileError

DATA = DATA_DIR / "income_expenditure.yml"
INCOME = "income"
OFFER = "offer"
SKIPPED = "skipped"


@dataclass(frozen=True)
class IERules:
    """Keywords of ``data/income_expenditure.yml``: income words, SFS category → words, period →
    (words, periods per year), phrases that skip the questions, phrases that make an amount the
    debtor's offer to pay, per currency the monthly income (major units, ``Decimal``) below
    which a figure is read back before it is used, and the NLU intents of an attempted answer
    (one with no amount is asked again rather than handed to the rest of the dialogue), words
    that mean an amount of zero ("nothing"), and the phrases that refuse an amount ("too much",
    "还不起") unless an acceptance word comes first ("可以")."""

    income_keywords: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    periods: dict[str, tuple[tuple[str, ...], int]]
    skip_phrases: tuple[str, ...]
    offer_phrases: tuple[str, ...]
    confirm_income_below: dict[str, Decimal]
    answer_intents: tuple[str, ...]
    zero_words: tuple[str, ...]
    refusal_phrases: tuple[str, ...] = ()
    acceptance_words: tuple[str, ...] = ()


def _words(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(w, str) and w.strip() for w in raw):
        raise DataFileError(f"{where} must be a non-empty list of words")
    return tuple(w.lower() for w in raw)


def parse_rules(raw: dict[str, Any], where: str) -> IERules:
    """Validate the I&E keyword file; :class:`DataFileError` names the field that is wrong."""
    categories = raw.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise DataFileError(f"{where}: field 'categories' must map SFS categories to keyword lists")
    periods = raw.get("periods")
    if not isinstance(periods, dict) or "monthly" not in periods:
        raise DataFileError(f"{where}: field 'periods' must define at least 'monthly'")
    parsed_periods: dict[str, tuple[tuple[str, ...], int]] = {}
    for name, spec in periods.items():
        per_year = (spec or {}).get("per_year")
        if not isinstance(per_year, int) or per_year <= 0:
            raise DataFileError(f"{where}: periods.{name}.per_year must be a positive integer")
        parsed_periods[str(name)] = (_words(spec.get("words"), f"{where}: periods.{name}.words"), per_year)
    floors = raw.get("confirm_income_below")
    if not isinstance(floors, dict):
        raise DataFileError(f"{where}: field 'confirm_income_below' must map currencies to amounts")
    parsed_floors: dict[str, Decimal] = {}
    for currency, amount in floors.items():
        try:
            parsed_floors[str(currency).upper()] = Money.of(str(amount), str(currency)).amount
        except (MoneyError, ValueError) as exc:
            raise DataFileError(f"{where}: confirm_income_below.{currency}: {exc}") from exc
    return IERules(
        income_keywords=_words(raw.get("income_keywords"), f"{where}: field 'income_keywords'"),
        categories={str(k): _words(v, f"{where}: categories.{k}") for k, v in categories.items()},
        periods=parsed_periods,
        skip_phrases=_words(raw.get("skip_phrases"), f"{where}: field 'skip_phrases'"),
        offer_phrases=_words(raw.get("offer_phrases"), f"{where}: field 'offer_phrases'"),
        confirm_income_below=parsed_floors,
        answer_intents=_words(raw.get("answer_intents"), f"{where}: field 'answer_intents'"),
        zero_words=_words(raw.get("zero_words"), f"{where}: field 'zero_words'"),
        refusal_phrases=_words(raw.get("refusal_phrases"), f"{where}: field 'refusal_phrases'"),
        acceptance_words=_words(raw.get("acceptance_words"), f"{where}: field 'acceptance_words'"),
    )


@cache
def ie_rules(path: Path = DATA) -> IERules:
    """The I&E rules from ``data/income_expenditure.yml`` (cached); DataFileError when bad."""
    return parse_rules(yaml.safe_load(path.read_text()) or {}, f"data/{path.name}")


@cache
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``words`` as whole words; a Chinese word matches anywhere (Chinese has no spaces)."""
    ordered = sorted(words, key=len, reverse=True)
    latin = "|".join(re.escape(w) for w in ordered if w.isascii())
    han = "|".join(re.escape(w) for w in ordered if not w.isascii())
    parts = ([rf"(?<![\w])(?:{latin})(?![\w])"] if latin else []) + ([f"(?:{han})"] if han else [])
    return re.compile("|".join(parts) or "(?!)", re.I)


def is_skip(text: str, rules: IERules | None = None) -> bool:
    """Whether the debtor declines to give their finances ("skip", "i'd rather not say")."""
    rules = rules or ie_rules()
    return bool(_pattern(rules.skip_phrases).search(text))


def monthly(money: Money, per_year: int) -> Money:
    """``money`` paid ``per_year`` times a year as a monthly figure, rounded half up."""
    value = (Decimal(money.minor) * per_year / 12).quantize(Decimal(1), ROUND_HALF_UP)
    return Money(int(value), money.currency)


@dataclass(frozen=True)
class Statement:
    """What one message says about money in and out, as monthly figures. ``unlabelled`` are
    amounts with no income or category word near them (the question asked decides them);
    ``offers`` are amounts the debtor offers to pay ("I can pay 200 on friday"), as said, not
    made monthly: they are neither income nor outgoings."""

    income: Money | None
    outgoings: dict[str, Money]
    unlabelled: tuple[Money, ...]
    offers: tuple[Money, ...] = ()

    @property
    def amounts(self) -> tuple[Money, ...]:
        """Every amount the message gave: income, outgoings, unlabelled and offered."""
        income = (self.income,) if self.income is not None else ()
        return (*income, *self.outgoings.values(), *self.unlabelled, *self.offers)


def _label(left: str, right: str, rules: IERules) -> str | None:
    """The income/category/offer word nearest the amount: last one before it, else first one after it.
    An offer phrase wins a tie ("I can get you 40": "can get" is an offer, "get" alone income)."""
    labels = [(OFFER, rules.offer_phrases), (INCOME, rules.income_keywords), *rules.categories.items()]
    best: tuple[int, str] | None = None
    for label, words in labels:
        for match in _pattern(words).finditer(left):
            if best is None or match.end() > best[0]:
                best = (match.end(), label)
    if best is not None:
        return best[1]
    first: tuple[int, str] | None = None
    for label, words in labels:
        found = _pattern(words).search(right)
        if found and (first is None or found.start() < first[0]):
            first = (found.start(), label)
    return first[1] if first else None


def _per_year(right: str, rules: IERules) -> int:
    for _name, (words, per_year) in rules.periods.items():
        if _pattern(words).match(right.strip()) or _pattern(words).search(right[:24]):
            return per_year
    return 12


REFUSAL_REACH = 10  # characters after an amount within which a refusal still speaks of it


def _refused(left: str, right: str, rules: IERules) -> bool:
    """Whether the debtor says they cannot pay the amount between ``left`` and ``right``: a
    refusal phrase just before it ("I can't do 100") or within :data:`REFUSAL_REACH` characters
    after it ("100 is too much"), with no acceptance word between ("两千三可以 再多还不起")."""
    refusal = _pattern(rules.refusal_phrases)
    if any(not left[m.end() :].strip(" $£€¥") for m in refusal.finditer(left)):
        return True
    after = refusal.search(right)
    if after is None or after.start() > REFUSAL_REACH:
        return False
    return _pattern(rules.acceptance_words).search(right[: after.start()]) is None


def _in_context(text: str, amounts: list[AmountSpan]) -> Iterator[tuple[AmountSpan, str, str]]:
    """Each amount with the text on its left since the previous amount and on its right up to the next."""
    for i, span in enumerate(amounts):
        left = text[amounts[i - 1].end if i else 0 : span.start]
        right = text[span.end : amounts[i + 1].start if i + 1 < len(amounts) else len(text)]
        yield span, left, right


def offered_amounts(text: str, currency: str, tz: str = "UTC", rules: IERules | None = None) -> list[AmountSpan]:
    """The amounts of ``text`` (:func:`bot.extraction.find_amounts`) but those the debtor refuses
    (:func:`_refused`: "100 is too much", "四千多我真的还不起"), in order."""
    rules = rules or ie_rules()
    return [
        span
        for span, left, right in _in_context(text, find_amounts(text, currency, tz))
        if not _refused(left, right, rules)
    ]


def read_statement(text: str, currency: str, tz: str = "UTC", rules: IERules | None = None) -> Statement:
    """Income and outgoings in ``text`` (monthly figures in ``currency`` unless the text names one).

    Each amount takes the nearest keyword on its left since the previous amount ("rent is 900"),
    else the first on its right up to the next amount ("900 on rent"); a period word just after
    it ("50 a week") converts it to monthly. Amounts of one category add up. An amount after an
    offer phrase ("I can afford 100 a month") is an offer, kept as said. A zero word ("nothing")
    is an amount of 0.
    """
    rules = rules or ie_rules()
    text = _pattern(rules.zero_words).sub("0", text)  # "I earn nothing", "nothing" for outgoings
    amounts: list[AmountSpan] = find_amounts(text, currency, tz)
    income: Money | None = None
    outgoings: dict[str, Money] = {}
    unlabelled: list[Money] = []
    offers: list[Money] = []
    for span, left, right in _in_context(text, amounts):
        if _refused(left, right, rules):
            continue  # "100 is too much", "四千多我真的还不起": said, but not offered
        # a separator ends what the words on the right can say about this amount
        right_clause = re.split(r"[,;.]|\band\b", right, maxsplit=1)[0]
        value = monthly(span.money, _per_year(right_clause, rules))
        label = _label(left, right_clause, rules)
        if label == OFFER:
            offers.append(span.money)
        elif label == INCOME:
            income = value if income is None else Money(income.minor + value.minor, value.currency)
        elif label is None:
            unlabelled.append(value)
        else:
            before = outgoings.get(label)
            outgoings[label] = value if before is None else Money(before.minor + value.minor, value.currency)
    return Statement(income, outgoings, tuple(unlabelled), tuple(offers))


def income_needs_confirming(income: Money, rules: IERules | None = None) -> bool:
    """Whether a monthly ``income`` is low enough to read back before a plan rests on it ("2"
    is more often "2,000" cut short than an income of 2). A currency with no floor in
    ``data/income_expenditure.yml`` is never read back."""
    floor = (rules or ie_rules()).confirm_income_below.get(income.currency)
    return floor is not None and income.amount < floor


def outgoings_total(outgoings: dict[str, Money], currency: str) -> Money:
    """The sum of monthly outgoings (0 in ``currency`` when there are none)."""
    return Money(sum(m.minor for m in outgoings.values()), currency)


def disposable(income: Money, outgoings: dict[str, Money]) -> Money:
    """Monthly disposable income: income less outgoings, never below zero."""
    spent = outgoings_total(outgoings, income.currency).minor
    return Money(max(0, income.minor - spent), income.currency)


def outgoings_slot(outgoings: dict[str, Money], currency: str) -> dict[str, Any]:
    """The slot shape ``{"currency": "USD", "items": {"food_and_housekeeping": "300.00"}}``."""
    return {"currency": currency, "items": {k: str(v.amount) for k, v in outgoings.items()}}


def outgoings_from_slot(value: Any) -> dict[str, Money] | None:
    """The inverse of :func:`outgoings_slot`; None for a skipped or missing value."""
    if not isinstance(value, dict) or "items" not in value:
        return None
    currency = str(value.get("currency") or "USD")
    return {str(k): Money.of(v, currency) for k, v in (value.get("items") or {}).items()}
