"""Money and date understanding for debtor messages, in English and Chinese.

Amounts come out as :class:`bot.money.Money`; dates as :class:`datetime.date` resolved against
"today" in the debtor's IANA time zone. Spelled-out numbers are turned into digits first
(``text2num``); calendar arithmetic uses ``python-dateutil`` and free-form dates ``dateparser``.
Text with Han characters, or any text when ``language`` is "zh", goes through the Chinese rules
(:mod:`bot.extraction_zh`) first; the English rules then read what those left, so mixed text works
and English text gives exactly what it gave before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from dateutil.relativedelta import relativedelta
from text_to_num import alpha2digit, text2num

from bot import extraction_zh
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
_WEEKDAY_WORDS = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
# counts written as words in relative dates ("in two weeks", "in a month")
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3}  # fmt: skip
_COUNT_WORDS = "|".join(sorted((re.escape(w) for w in _COUNTS), key=len, reverse=True))


def _count(word: str) -> int:
    """A count written in digits or as a word ("two", "a couple of")."""
    return int(word) if word.isdigit() else _COUNTS[re.sub(r"\s+", " ", word.lower())]


_DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b")),
    # "3.4" is an amount; a dotted date needs its year
    ("numeric", re.compile(r"\b\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")),
    ("day_month", re.compile(rf"\b(?:the\s+)?\d{{1,2}}{_ORD}(?:\s+of)?\s+(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?\b", re.I)),
    ("month_day", re.compile(rf"\b(?:{_MONTHS})\.?\s+(?:the\s+)?\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?\b", re.I)),
    (
        "relative_day",
        re.compile(
            r"\b(?:day after tomorrow|today|tonight|tomorrow|tmrw|tmr|2moro|yesterday|last night|this (?:morning|afternoon|evening))\b",
            re.I,
        ),
    ),
    ("ago", re.compile(r"\b(\d{1,3}|" + _COUNT_WORDS + r")\s+(days?|weeks?|months?|years?)\s+ago\b", re.I)),
    (
        "last_week_day",
        re.compile(
            r"\blast\s+week\s+("
            + "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
            + r")\b|\b("
            + "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
            + r")\s+(?:of\s+)?last\s+week\b",
            re.I,
        ),
    ),
    ("last_day", re.compile(r"\blast\s+(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b", re.I)),
    (
        "day_in_a_week",
        re.compile(r"\b(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\s+in\s+a\s+week\b", re.I),
    ),
    ("last_month", re.compile(r"\blast\s+month\b", re.I)),
    (
        "weekday_next_week",
        re.compile(
            r"\bnext\s+week(?:'s)?\s+(?:on\s+)?("
            + _WEEKDAY_WORDS
            + r")\b|\b("
            + _WEEKDAY_WORDS
            + r")\s+(?:of\s+)?next\s+week\b",
            re.I,
        ),
    ),
    (
        "weekday_in_n_weeks",
        re.compile(r"\b(" + _WEEKDAY_WORDS + r")\s+in\s+(\d{1,2}|" + _COUNT_WORDS + r")\s+weeks?(?:'\s*time)?\b", re.I),
    ),
    ("end_of_year", re.compile(r"\bend\s+of\s+(?:the\s+|this\s+)?year\b", re.I)),
    (
        "last_ordinal",
        re.compile(r"\blast\s+(\d{1,2})(?:st|nd|rd|th)\b|\bthe\s+(\d{1,2})(?:st|nd|rd|th)\s+of\s+last\s+month\b", re.I),
    ),
    (
        "weekday",
        re.compile(
            r"\b(?:(?:next|this|coming|on)\s+)?(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b", re.I
        ),
    ),
    ("in_n", re.compile(r"\bin\s+(\d{1,3}|" + _COUNT_WORDS + r")\s+(days?|weeks?|months?|years?)\b", re.I)),
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
_CUR_SUFFIX = r"\s?(?P<suf>(?:dollars?|bucks?|pounds?|quid|euros?|yuan|rmb|usd|gbp|eur|cny)\b|[元块€£¥$])"
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)(?P<k>\s?k\b)?"
# clock times are not amounts: "at 0:10", "11 45 in the morning", "7pm"
_TIME = re.compile(
    r"\b\d{1,2}:\d{2}\b|\b(?:at\s+)?\d{1,2}(?:\s+\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock|in the (?:morning|afternoon|evening)|at night)\b|\bat\s+\d{1,2}\s+\d{2}\b",
    re.I,
)
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


_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fourty|fifty|sixty|seventy|eighty|ninety"
_WORD_1_99 = rf"(?:(?:{_TENS})(?:[\s-](?:{_UNITS}))?|{_TEENS}|{_UNITS})"
_WORD_10_99 = rf"(?:(?:{_TENS})(?:[\s-](?:{_UNITS}))?|{_TEENS})"
# Spoken pairs: "one fifty" = 150, "nineteen eighty five" = 1985, "twenty twenty six" = 2026.
_SPOKEN_PAIR = re.compile(rf"\b({_WORD_1_99})\s+({_WORD_10_99})\b", re.I)
_ARTICLE_NUMBER = re.compile(r"\b(?:a|an)\s+(\d)", re.I)
_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# digits with a scale word: "2 thousand", "2.5 million", "3 grand" (text2num would make "2 1000")
_DIGITS_AND_SCALE = re.compile(r"\b(\d[\d,]*(?:\.\d+)?)\s*(hundred|thousand|grand|million|billion)s?\b", re.I)
_ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
# "the first" / "the twenty first": only after "the", so "first payment" stays a word
_WORDS_GRAND = re.compile(rf"\b(a|{_WORD_1_99})\s+grand\b", re.I)  # text2num knows no "grand"
_THE_ORDINAL = re.compile(r"\bthe\s+(?:(twenty|thirty)[\s-])?(" + "|".join(_ORDINAL_WORDS) + r")\b", re.I)


def _ordinal_suffix(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _the_ordinal(match: re.Match[str]) -> str:
    n = _ORDINAL_WORDS[match.group(2).lower()] + {"twenty": 20, "thirty": 30}.get((match.group(1) or "").lower(), 0)
    return f"the {n}{_ordinal_suffix(n)}" if n <= 31 else match.group(0)


def _word_number(words: str) -> int:
    return int(text2num(words.lower().replace("fourty", "forty").replace(" ", "-").replace("-", " "), "en"))


# "1,5 thousand", "2,5k": a comma with one or two digits after it is a decimal comma (as written
# across most of Europe), not a thousands separator, which always has three
_DECIMAL_COMMA = re.compile(r"^\d+,\d{1,2}$")
_DECIMAL_COMMA_K = re.compile(r"\b(\d+),(\d{1,2})(\s?k)\b", re.I)


def _scaled(match: re.Match[str]) -> str:
    number = match.group(1)
    number = number.replace(",", ".") if _DECIMAL_COMMA.match(number) else number.replace(",", "")
    value = Decimal(number) * _SCALES[match.group(2).lower()]
    return format(value.normalize(), "f")


def _grand(match: re.Match[str]) -> str:
    word = match.group(1).lower()
    try:
        return str((1 if word == "a" else _word_number(word)) * 1000)
    except ValueError:
        return match.group(0)


def normalise_numbers(text: str) -> str:
    """Spelled-out English numbers to digits: "fifty dollars on the fifth" → "50 dollars on the 5th",
    "one fifty" → "150", "a hundred and twenty" → "120", "nineteen eighty five" → "1985",
    "2 thousand" → "2000", "two grand" → "2000", "1.5 million" → "1500000", "1,5 thousand" →
    "1500" and "2,5k" → "2.5k" (a decimal comma before a scale)."""

    def pair(match: re.Match[str]) -> str:
        try:
            return str(_word_number(match.group(1)) * 100 + _word_number(match.group(2)))
        except ValueError:
            return match.group(0)

    text = _DECIMAL_COMMA_K.sub(r"\1.\2\3", text)
    text = _DIGITS_AND_SCALE.sub(_scaled, _WORDS_GRAND.sub(_grand, text))
    try:
        text = _THE_ORDINAL.sub(_the_ordinal, text)
        text = _SPOKEN_PAIR.sub(pair, text)
        text = str(alpha2digit(text, "en"))
    except Exception:  # text2num rejects some odd inputs; the digits-only path still works
        return text
    return _ARTICLE_NUMBER.sub(r"\1", text)


def _span_of(n: int, unit: str) -> relativedelta:
    """``n`` days, weeks, months or years."""
    return {
        "day": relativedelta(days=n),
        "week": relativedelta(weeks=n),
        "month": relativedelta(months=n),
        "year": relativedelta(years=n),
    }[unit]


def _resolve(kind: str, match: re.Match[str], today: date, date_order: str) -> date | None:
    text = match.group(0)
    if kind == "relative_day":
        word = text.lower()
        if word == "day after tomorrow":
            return today + relativedelta(days=2)
        if word in ("yesterday", "last night"):
            return today - relativedelta(days=1)
        return today if word in ("today", "tonight") or word.startswith("this ") else today + relativedelta(days=1)
    if kind == "ago":
        n, unit = _count(match.group(1)), match.group(2).lower().rstrip("s")
        return today - _span_of(n, unit)
    if kind == "last_week_day":
        weekday = _WEEKDAYS[(match.group(1) or match.group(2)).lower()]
        monday_last_week = today - relativedelta(days=today.weekday() + 7)
        return monday_last_week + relativedelta(days=weekday)
    if kind == "last_day":
        weekday = _WEEKDAYS[match.group(1).lower()]
        return today - relativedelta(days=(today.weekday() - weekday) % 7 or 7)
    if kind == "day_in_a_week":
        weekday = _WEEKDAYS[match.group(1).lower()]
        return today + relativedelta(days=((weekday - today.weekday()) % 7 or 7) + 7)
    if kind == "last_month":
        return today - relativedelta(months=1, day=1)
    if kind == "weekday":
        weekday = _WEEKDAYS[match.group(1).lower()]
        ahead = (weekday - today.weekday()) % 7 or 7  # a weekday is the next one, never today
        return today + relativedelta(days=ahead)
    if kind == "in_n":
        n, unit = _count(match.group(1)), match.group(2).lower().rstrip("s")
        return today + _span_of(n, unit)
    if kind == "weekday_next_week":
        weekday = _WEEKDAYS[(match.group(1) or match.group(2)).lower()]
        monday_next_week = today + relativedelta(days=7 - today.weekday())
        return monday_next_week + relativedelta(days=weekday)
    if kind == "weekday_in_n_weeks":
        weekday = _WEEKDAYS[match.group(1).lower()]
        monday = today - relativedelta(days=today.weekday()) + relativedelta(weeks=_count(match.group(2)))
        return monday + relativedelta(days=weekday)
    if kind == "end_of_year":
        return date(today.year, 12, 31)
    if kind == "last_ordinal":
        day = int(match.group(1) or match.group(2))
        if not 1 <= day <= 31:
            return None
        for back in range(0, 4):  # the latest month before today that has the day
            candidate = today - relativedelta(months=back, day=day)
            if candidate.day == day and candidate < today:
                return candidate
        return None
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


@dataclass(frozen=True)
class ImpossibleDate(Span):
    """A day and month that no calendar has ("the 31st of February", "2/30"): ``month`` 1-12 and
    ``day`` as written, so the debtor can be asked which date they meant."""

    month: int
    day: int


_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February in a leap year


def _month_number(word: str) -> int | None:
    word = word.lower().rstrip(".")
    for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1):
        if word.startswith(name):
            return i
    return None


def _impossible(kind: str, text: str, date_order: str) -> tuple[int, int] | None:
    """(month, day) when a written date names a day its month never has, else None."""
    if kind in ("day_month", "month_day"):
        day_match = re.search(r"\d{1,2}", text)
        month_match = re.search(_MONTHS, text, re.I)
        if not day_match or not month_match:
            return None
        month, day = _month_number(month_match.group(0)), int(day_match.group(0))
    elif kind == "numeric" and "." not in text:
        parts = [int(p) for p in re.split(r"[/-]", text)[:2]]
        month, day = (parts[1], parts[0]) if date_order.startswith("D") else (parts[0], parts[1])
        if not 1 <= month <= 12:
            return None
    else:
        return None
    if month is None or 1 <= day <= _LONGEST_MONTH[month - 1]:
        return None
    return month, day


_YEAR = re.compile(r"\b\d{4}\b|年")


def looking_back(span: DateSpan, today: date) -> date:
    """The date ``span`` means when the debtor reports something done (a payment made), not
    promised: a weekday, a day of the month or a day and month that :func:`find_dates` put ahead
    of ``today`` are the last such day before it ("I paid on friday" on a Wednesday is five days
    ago, "on the 2nd of December" on 5 December 2026 is 2 December 2026). Dates with a year, and
    dates already in the past, are kept."""
    value = span.value
    if value <= today or _YEAR.search(span.text):
        return value
    text = span.text.lower()
    if any(re.search(rf"\b{w}\b", text) for w in _WEEKDAYS):
        step = relativedelta(weeks=1)
    elif re.search(_MONTHS, text, re.I) or re.search(r"\d{1,2}[/-]\d{1,2}", text) or "月" in text:
        step = relativedelta(years=1)
    else:
        step = relativedelta(months=1)
    while value > today:
        value -= step
    return value


def uses_chinese(text: str, language: str | None = None) -> bool:
    """Whether the Chinese rules read ``text``: it has Han characters, or ``language`` (ISO 639-1,
    e.g. the sender context's) is Chinese ("2.5w" from a Chinese debtor)."""
    return (language or "").lower().startswith("zh") or extraction_zh.has_han(text)


def _without(found: list[Any], taken: list[tuple[int, int]]) -> list[Any]:
    return [f for f in found if not any(f.start < te and ts < f.end for ts, te in taken)]


def find_dates(
    text: str, tz: str, now: datetime | None = None, date_order: str = "MDY", language: str | None = None
) -> list[DateSpan]:
    """Dates in ``text`` resolved against today in ``tz``; non-overlapping, in text order.

    ``date_order`` ("MDY" for the US, "DMY" for the UK, "YMD" for China) settles "12/04".
    A bare weekday means its next occurrence after today. Chinese text ("下周五", "15号",
    "下个月底") is read by :func:`bot.extraction_zh.find_dates` (see :func:`uses_chinese`). A day
    its month never has ("the 31st of February") is no date at all (see
    :func:`find_impossible_dates`), never another month's.
    """
    today = today_in(tz, now)
    if not uses_chinese(text, language):
        return _find_dates_en(text, today, date_order)
    zh = [DateSpan(d.start, d.end, d.text, d.value) for d in extraction_zh.find_dates(text, today)]
    rest = extraction_zh.mask(text, [(d.start, d.end) for d in zh])
    en = _find_dates_en(rest, today, date_order) if rest.strip() else []
    return sorted(zh + _without(en, [(d.start, d.end) for d in zh]), key=lambda d: d.start)


def _find_dates_en(text: str, today: date, date_order: str) -> list[DateSpan]:
    return _scan(text, today, date_order)[0]


def _scan(text: str, today: date, date_order: str) -> tuple[list[DateSpan], list[ImpossibleDate]]:
    """The English dates of ``text`` and the impossible ones ("the 31st of February")."""
    norm = normalise_numbers(text)
    taken: list[tuple[int, int]] = []
    found: list[DateSpan] = []
    impossible: list[ImpossibleDate] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(norm):
            s, e = match.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            wrong = _impossible(kind, match.group(0), date_order)
            if wrong is not None:
                # taken, so "the 31st" of "the 31st of February" is not read as another month's 31st
                taken.append((s, e))
                impossible.append(ImpossibleDate(s, e, match.group(0), *wrong))
                continue
            value = _resolve(kind, match, today, date_order)
            if value is None:
                continue
            taken.append((s, e))
            found.append(DateSpan(s, e, match.group(0), value))
    return sorted(found, key=lambda d: d.start), impossible


def find_impossible_dates(text: str, date_order: str = "MDY") -> list[ImpossibleDate]:
    """Days and months in ``text`` that no calendar has ("the 31st of February", "feb 30", "2/31"
    in MDY order), so the debtor gets a question instead of a guess."""
    return _scan(text, today_in("UTC"), date_order)[1]


def find_amounts(
    text: str, default_currency: str, tz: str = "UTC", now: datetime | None = None, language: str | None = None
) -> list[AmountSpan]:
    """Money amounts in ``text`` that are not part of a date, in text order.

    "200", "$1,250.00", "2k", "fifty bucks", "gbp 40" → Money. The currency comes from a symbol,
    code or word in the text, else ``default_currency`` (the account's). Chinese text ("三千五",
    "1千2", "2.5w", "八百块") is read by :func:`bot.extraction_zh.find_amounts` first.
    """
    if not uses_chinese(text, language):
        return _find_amounts_en(text, default_currency, tz, now)
    today = today_in(tz, now)
    zh_dates = [(d.start, d.end) for d in extraction_zh.find_dates(text, today)]
    dates = list(zh_dates)
    rest = extraction_zh.mask(text, zh_dates)
    if normalise_numbers(rest) == rest:  # English date offsets are then offsets into ``text``
        dates += [(d.start, d.end) for d in _find_dates_en(rest, today, "MDY")]
    zh, decided = extraction_zh.find_amounts(text, dates)
    found: list[AmountSpan] = []
    for a in zh:
        try:
            money = Money.of(a.amount, a.currency or default_currency)
        except MoneyError:
            continue
        found.append(AmountSpan(a.start, a.end, a.text, money, a.currency is not None))
    rest = extraction_zh.mask(text, decided + zh_dates)
    en = _find_amounts_en(rest, default_currency, tz, now) if rest.strip() else []
    return sorted(found + _without(en, decided), key=lambda a: a.start)


# a bare number that counts periods or payments, or names a retirement plan, is not an amount:
# "140 every 2 weeks", "100 for 6 months", "6 payments of 50", "from my 401k", "a 403(b)"
_NOT_AMOUNT = re.compile(
    r"\b\d+\s*(?:days?|weeks?|wks?|months?|years?|yrs?|payments?|instal?l?ments?|times)\b"
    r"|\b(?:401|403|457)\s*\(?[kb]\)?(?![a-z])",
    re.I,
)


def _find_amounts_en(text: str, default_currency: str, tz: str, now: datetime | None) -> list[AmountSpan]:
    norm = normalise_numbers(text)
    dates, impossible = _scan(text, today_in(tz, now), "MDY")
    date_spans = [(d.start, d.end) for d in [*dates, *impossible]] + [m.span() for m in _TIME.finditer(norm)]
    not_amounts = [m.span() for m in _NOT_AMOUNT.finditer(norm)]
    found: list[AmountSpan] = []
    for match in _AMOUNT.finditer(norm):
        s, e = match.span("num")
        if any(s < de and ds < e for ds, de in date_spans):
            continue
        word = (match.group("pre") or match.group("suf") or "").lower()
        if not word and any(ns <= s and e <= ne for ns, ne in not_amounts):
            continue
        number = Decimal(match.group("num").replace(",", ""))
        if match.group("k"):
            number *= 1000
        currency = _CURRENCY_WORDS.get(word, default_currency)
        try:
            money = Money.of(number, currency)
        except MoneyError:
            continue
        found.append(AmountSpan(match.start(), match.end(), match.group(0), money, bool(word)))
    return found


_NEGATIVE = re.compile(r"(?:^|(?<=\s))(?:[-−]|(?:minus|negative)\s+)[$£€¥]?\d", re.I)


def has_negative_amount(text: str) -> bool:
    """Whether ``text`` gives an amount below zero ("-50", "minus 50", "-$20"): no payment can be
    one, so the debtor is asked again rather than the sign dropped."""
    return bool(_NEGATIVE.search(normalise_numbers(text)))


# a whole date inside other words: 7/20/72, 20.07.1972, July 20 1972, 20 July 72
_DOB_SHAPE = re.compile(
    r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
    r"|\b[a-z]{3,9}\.?\s+\d{1,2},?\s+(?:\d{4}|\d{2})\b|\b\d{1,2}\s+[a-z]{3,9}\.?,?\s+(?:\d{4}|\d{2})\b",
    re.I,
)


def parse_date_of_birth(
    text: str, date_order: str = "MDY", today: date | None = None, language: str | None = None
) -> date | None:
    """A full date of birth (day, month and year) from free text, or None.

    Two-digit years are taken as the most recent past year; a date in the future or more than
    120 years ago is rejected. Chinese forms ("1993年5月16日", "九三年五月十六号", "19930516")
    are read by :func:`bot.extraction_zh.parse_date_of_birth` first.
    """
    today = today or date.today()
    if uses_chinese(text, language):
        found = extraction_zh.parse_date_of_birth(text, today)
        if found is not None or extraction_zh.has_date_of_birth_form(text):
            return found  # "1993年13月1日" is no date, not a cue to try the English rules
        text = extraction_zh.mask(text, [])
        if not text.strip():
            return None
    cleaned = normalise_numbers(text)
    cleaned = re.sub(
        r"\b(?:my\s+)?(?:dob|d\.o\.b\.?|date of birth|birthday|born(?: on)?)\b[:\s]*(?:is\s+)?",
        " ",
        cleaned,
        flags=re.I,
    )
    cleaned = re.sub(r"\b(\d{1,2})(?:st|nd|rd|th)\b", r"\1", cleaned)
    settings = {
        "PREFER_DATES_FROM": "past",
        "DATE_ORDER": date_order,
        "REQUIRE_PARTS": ["day", "month", "year"],
        "RELATIVE_BASE": datetime(today.year, today.month, today.day),
        "PARSERS": ["custom-formats", "absolute-time"],  # "next year" is not a birth date
    }
    parsed = dateparser.parse(cleaned.strip(), languages=["en"], settings=settings)  # type: ignore[arg-type]
    if parsed is None:
        # words around the date ("its 7/20/72", "7/20/72 is my birthday"): the date alone
        spans = [m.group(0) for m in _DOB_SHAPE.finditer(cleaned)]
        parsed = next(
            (p for p in (dateparser.parse(x, languages=["en"], settings=settings) for x in spans) if p),  # type: ignore[arg-type]
            None,
        )
    if parsed is None:
        return None
    value: date = parsed.date()
    if value > today:
        value = value.replace(year=value.year - 100)
    if value > today or value.year < today.year - 120:
        return None
    return value


_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY_ALT = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_RECURRENCE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "biweekly_day",
        re.compile(rf"\b(?:every|each)\s+(?:other|second|2nd|2)\s+(?:week\s+on\s+)?({_WEEKDAY_ALT})s?\b", re.I),
    ),
    (
        "n_weeks",
        re.compile(
            r"\bevery\s+(\d)\s+weeks?\b|\b(bi-?weekly|fortnightly|every\s+(?:other|second)\s+week|every\s+fortnight)\b",
            re.I,
        ),
    ),
    (
        "weekly_day",
        re.compile(
            rf"\b(?:every|each)\s+({_WEEKDAY_ALT})s?\b|\b({_WEEKDAY_ALT})s\b|\bweekly\s+on\s+({_WEEKDAY_ALT})s?\b", re.I
        ),
    ),
    ("weekly", re.compile(r"\b(weekly|every\s+week|each\s+week|(?:a|per)\s+week|/\s?(?:wk|week))\b", re.I)),
    (
        "monthly_day",
        re.compile(
            r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?:each|every|the|a)\s+month\b|\b(?:every|each)\s+month\s+on\s+the\s+(\d{1,2})(?:st|nd|rd|th)?\b",
            re.I,
        ),
    ),
    ("monthly", re.compile(r"\b(monthly|every\s+month|each\s+month|(?:a|per)\s+month|/\s?(?:mo|month))\b", re.I)),
]


@dataclass(frozen=True)
class Recurrence(Span):
    """A repeating schedule: ``freq`` "weekly" or "monthly", ``interval`` (2 = every other),
    ``weekday`` (0 = Monday) or ``month_day``; ``rrule`` is the RFC 5545 rule text."""

    freq: str
    interval: int
    weekday: int | None
    month_day: int | None

    @property
    def rrule(self) -> str:
        parts = [f"FREQ={self.freq.upper()}", f"INTERVAL={self.interval}"]
        if self.weekday is not None:
            parts.append(f"BYDAY={_RRULE_DAYS[self.weekday]}")
        if self.month_day is not None:
            parts.append(f"BYMONTHDAY={self.month_day}")
        return ";".join(parts)

    def next_dates(self, after: date, count: int = 3) -> list[date]:
        """The next ``count`` dates of the schedule strictly after ``after`` (python-dateutil rrule).
        A month day past the end of a short month falls on that month's last day."""
        from dateutil.rrule import MONTHLY, WEEKLY, rrule

        start = datetime(after.year, after.month, after.day) + relativedelta(days=1)
        if self.freq == "monthly":
            day = self.month_day or after.day
            rule = rrule(MONTHLY, interval=self.interval, bymonthday=(day, -1) if day > 28 else day, dtstart=start)
            out: list[date] = []
            for moment in rule:  # type: ignore[attr-defined]
                d = moment.date()
                if day > 28 and d.day != min(day, (d + relativedelta(day=31)).day):
                    continue
                if not out or out[-1].month != d.month:
                    out.append(d)
                if len(out) == count:
                    return out
            return out
        weekday = self.weekday if self.weekday is not None else after.weekday()
        rule = rrule(WEEKLY, interval=self.interval, byweekday=weekday, dtstart=start)
        return [m.date() for m in rule[:count]]  # type: ignore[attr-defined]

    def as_entity(self, after: date) -> dict[str, Any]:
        """Entity/slot value: freq, interval, weekday/month_day, rrule and the next three dates (ISO)."""
        return {
            "freq": self.freq,
            "interval": self.interval,
            "weekday": _RRULE_DAYS[self.weekday] if self.weekday is not None else None,
            "month_day": self.month_day,
            "rrule": self.rrule,
            "next": [d.isoformat() for d in self.next_dates(after)],
        }


def find_recurrences(text: str, language: str | None = None) -> list[Recurrence]:
    """Repeating schedules in ``text``: "every other Friday", "the 1st of each month", "40 a week";
    in Chinese "每月15号", "每周五", "隔周五", "每个月" (:func:`bot.extraction_zh.find_recurrences`)."""
    if not uses_chinese(text, language):
        return _find_recurrences_en(text)
    zh = [
        Recurrence(r.start, r.end, r.text, r.freq, r.interval, r.weekday, r.month_day)
        for r in extraction_zh.find_recurrences(text)
    ]
    rest = extraction_zh.mask(text, [(r.start, r.end) for r in zh])
    en = _find_recurrences_en(rest) if rest.strip() else []
    return sorted(zh + _without(en, [(r.start, r.end) for r in zh]), key=lambda r: r.start)


def _find_recurrences_en(text: str) -> list[Recurrence]:
    norm = normalise_numbers(text)
    found: list[Recurrence] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _RECURRENCE_PATTERNS:
        for m in pattern.finditer(norm):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            groups = [g for g in m.groups() if g]
            day_word = next((g.lower().rstrip("s") for g in groups if g.lower().rstrip("s") in _WEEKDAYS), None)
            weekday = _WEEKDAYS.get(day_word) if day_word else None
            if kind == "biweekly_day":
                rec = Recurrence(s, e, m.group(0), "weekly", 2, weekday, None)
            elif kind == "n_weeks":
                interval = int(m.group(1)) if m.group(1) else 2
                rec = Recurrence(s, e, m.group(0), "weekly", interval, None, None)
            elif kind == "weekly_day":
                rec = Recurrence(s, e, m.group(0), "weekly", 1, weekday, None)
            elif kind == "weekly":
                rec = Recurrence(s, e, m.group(0), "weekly", 1, None, None)
            elif kind == "monthly_day":
                day = int(m.group(1) or m.group(2))
                if not 1 <= day <= 31:
                    continue
                rec = Recurrence(s, e, m.group(0), "monthly", 1, None, day)
            else:
                rec = Recurrence(s, e, m.group(0), "monthly", 1, None, None)
            taken.append((s, e))
            found.append(rec)
    found.sort(key=lambda r: r.start)
    # "biweekly on fridays": an interval and a weekday said apart make one schedule
    merged: list[Recurrence] = []
    for rec in found:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.freq == rec.freq == "weekly"
            and rec.start - prev.end <= 12
            and (prev.weekday is None) != (rec.weekday is None)
        ):
            merged[-1] = Recurrence(
                prev.start,
                rec.end,
                norm[prev.start : rec.end],
                "weekly",
                max(prev.interval, rec.interval),
                prev.weekday if prev.weekday is not None else rec.weekday,
                None,
            )
        else:
            merged.append(rec)
    return merged
