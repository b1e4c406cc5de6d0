"""Money and date understanding for debtor messages.

Amounts come out as :class:`bot.money.Money`; dates as :class:`datetime.date` resolved against
"today" in the debtor's IANA time zone. Spelled-out numbers are turned into digits first
(``text2num``); calendar arithmetic uses ``python-dateutil`` and free-form dates ``dateparser``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import dateparser
from dateutil.relativedelta import relativedelta
from text_to_num import alpha2digit

from bot.money import Money, MoneyError

_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_ORD = r"(?:st|nd|rd|th)?"
_DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b")),
    ("numeric", re.compile(r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b")),
    ("day_month", re.compile(rf"\b(?:the\s+)?\d{{1,2}}{_ORD}(?:\s+of)?\s+(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?\b", re.I)),
    ("month_day", re.compile(rf"\b(?:{_MONTHS})\.?\s+(?:the\s+)?\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?\b", re.I)),
    ("relative_day", re.compile(r"\b(?:day after tomorrow|today|tonight|tomorrow|tmrw|tmr|2moro)\b", re.I)),
    (
        "weekday",
        re.compile(
            r"\b(?:(?:next|this|coming|on)\s+)?(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b", re.I
        ),
    ),
    ("in_n", re.compile(r"\bin\s+(\d{1,2})\s+(days?|weeks?)\b", re.I)),
    ("next_week", re.compile(r"\bnext\s+week\b", re.I)),
    ("end_of_month", re.compile(r"\bend\s+of\s+(?:the\s+|this\s+)?month\b", re.I)),
    ("ordinal_day", re.compile(r"\b(?:on\s+)?(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b|\bthe\s+(\d{1,2})\b", re.I)),
]

_CURRENCY_WORDS = {
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "buck": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "¥": "CNY",
    "￥": "CNY",
    "cny": "CNY",
    "rmb": "CNY",
    "yuan": "CNY",
    "元": "CNY",
    "块": "CNY",
}
_CUR_PREFIX = r"(?P<pre>\$|£|€|¥|￥|usd|gbp|eur|cny|rmb)\s?"
_CUR_SUFFIX = r"\s?(?P<suf>dollars?|bucks?|pounds?|quid|euros?|yuan|rmb|usd|gbp|eur|cny|元|块)\b"
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)(?P<k>\s?k\b)?"
_AMOUNT = re.compile(rf"(?:{_CUR_PREFIX})?(?<![\w.,/-]){_NUMBER}(?![\w/-]|\.\d|,\d)(?:{_CUR_SUFFIX})?", re.I)


@dataclass(frozen=True)
class Span:
    """A value found in a message: character offsets into the original text and the value."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class AmountSpan(Span):
    """An amount found in text; ``currency_explicit`` is False when the default currency was used."""

    money: Money
    currency_explicit: bool


@dataclass(frozen=True)
class DateSpan(Span):
    """A calendar date found in text, resolved in the debtor's time zone."""

    value: date


def today_in(tz: str, now: datetime | None = None) -> date:
    """The calendar date in IANA zone ``tz`` at ``now`` (aware; defaults to the current time)."""
    moment = now if now is not None else datetime.now(ZoneInfo("UTC"))
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(ZoneInfo(tz)).date()


def normalise_numbers(text: str) -> str:
    """Spelled-out English numbers to digits: "fifty dollars on the fifth" → "50 dollars on the 5th"."""
    try:
        return str(alpha2digit(text, "en"))
    except Exception:  # text2num rejects some odd inputs; the digits-only path still works
        return text


def _resolve(kind: str, match: re.Match[str], today: date, date_order: str) -> date | None:
    text = match.group(0)
    if kind == "relative_day":
        word = text.lower()
        if word == "day after tomorrow":
            return today + relativedelta(days=2)
        return today if word in ("today", "tonight") else today + relativedelta(days=1)
    if kind == "weekday":
        weekday = _WEEKDAYS[match.group(1).lower()]
        ahead = (weekday - today.weekday()) % 7 or 7  # a weekday is the next one, never today
        return today + relativedelta(days=ahead)
    if kind == "in_n":
        n = int(match.group(1))
        return today + (relativedelta(days=n) if match.group(2).lower().startswith("day") else relativedelta(weeks=n))
    if kind == "next_week":
        return today + relativedelta(weeks=1)
    if kind == "end_of_month":
        return today + relativedelta(day=31)
    if kind == "ordinal_day":
        day = int(match.group(1) or match.group(2))
        if not 1 <= day <= 31:
            return None
        candidate = today + relativedelta(day=day)
        if candidate < today or candidate.day != day:
            candidate = today + relativedelta(months=1, day=day)
        return candidate if candidate.day == day else None
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": datetime(today.year, today.month, today.day),
        "DATE_ORDER": date_order,
        "PREFER_DAY_OF_MONTH": "first",
        "REQUIRE_PARTS": ["day", "month"],
    }
    parsed = dateparser.parse(re.sub(r"^the\s+", "", text, flags=re.I), languages=["en"], settings=settings)  # type: ignore[arg-type]
    return parsed.date() if parsed else None


def find_dates(text: str, tz: str, now: datetime | None = None, date_order: str = "MDY") -> list[DateSpan]:
    """Dates in ``text`` resolved against today in ``tz``; non-overlapping, in text order.

    ``date_order`` ("MDY" for the US, "DMY" for the UK, "YMD" for China) settles "12/04".
    A bare weekday means its next occurrence after today.
    """
    today = today_in(tz, now)
    norm = normalise_numbers(text)
    taken: list[tuple[int, int]] = []
    found: list[DateSpan] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(norm):
            s, e = match.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            value = _resolve(kind, match, today, date_order)
            if value is None:
                continue
            taken.append((s, e))
            found.append(DateSpan(s, e, match.group(0), value))
    return sorted(found, key=lambda d: d.start)


def find_amounts(text: str, default_currency: str, tz: str = "UTC", now: datetime | None = None) -> list[AmountSpan]:
    """Money amounts in ``text`` that are not part of a date, in text order.

    "200", "$1,250.00", "2k", "fifty bucks", "gbp 40" → Money. The currency comes from a symbol,
    code or word in the text, else ``default_currency`` (the account's).
    """
    norm = normalise_numbers(text)
    date_spans = [(d.start, d.end) for d in find_dates(text, tz, now)]
    found: list[AmountSpan] = []
    for match in _AMOUNT.finditer(norm):
        s, e = match.span("num")
        if any(s < de and ds < e for ds, de in date_spans):
            continue
        number = Decimal(match.group("num").replace(",", ""))
        if match.group("k"):
            number *= 1000
        word = (match.group("pre") or match.group("suf") or "").lower()
        currency = _CURRENCY_WORDS.get(word, default_currency)
        try:
            money = Money.of(number, currency)
        except MoneyError:
            continue
        found.append(AmountSpan(match.start(), match.end(), match.group(0), money, bool(word)))
    return found


def parse_date_of_birth(text: str, date_order: str = "MDY", today: date | None = None) -> date | None:
    """A full date of birth (day, month and year) from free text, or None.

    Two-digit years are taken as the most recent past year; a date in the future or more than
    120 years ago is rejected.
    """
    cleaned = normalise_numbers(text)
    cleaned = re.sub(
        r"\b(?:my\s+)?(?:dob|d\.o\.b\.?|date of birth|birthday|born(?: on)?)\b[:\s]*(?:is\s+)?",
        " ",
        cleaned,
        flags=re.I,
    )
    cleaned = re.sub(r"\b(\d{1,2})(?:st|nd|rd|th)\b", r"\1", cleaned)
    today = today or date.today()
    settings = {
        "PREFER_DATES_FROM": "past",
        "DATE_ORDER": date_order,
        "REQUIRE_PARTS": ["day", "month", "year"],
        "RELATIVE_BASE": datetime(today.year, today.month, today.day),
        "PARSERS": ["custom-formats", "absolute-time"],  # "next year" is not a birth date
    }
    parsed = dateparser.parse(cleaned.strip(), languages=["en"], settings=settings)  # type: ignore[arg-type]
    if parsed is None:
        return None
    value: date = parsed.date()
    if value > today:
        value = value.replace(year=value.year - 100)
    if value > today or value.year < today.year - 120:
        return None
    return value
