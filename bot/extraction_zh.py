"""Money and date understanding for Chinese debtor messages (Simplified and Traditional).

Used by :mod:`bot.extraction` when a message contains Han characters (or the conversation is in
Chinese); that module wraps these results in its own span types and runs the English rules over
what is left, so mixed text ("我下周五 pay 500") works. Offsets are into the original text.

Amounts: Arabic and Chinese numerals as people write them ("三千五" → 3500, "1千2" → 1200,
"一万二" → 12000, "3.5k", "2.5w" → 25000, "1,200", "八百块", "两千", "三块五" → 3.50).
Chinese numerals are converted by ``cn2an`` in "smart" mode; finding the spans, currencies and
what is not an amount (digits before 号/日/月/年/天/期/点 are days, months, years, counts or
clock times; "两三千" is a range) is done here. Dates: 今天/明天/后天, 下周五, 15号, 5月20日,
下个月15号, 月底/下个月底, 年底, 三天后, 1993年5月16日, 九三年五月十六号, 2026-12-10. Vague
times ("发工资那天", "过几天", "周末", "月初") give no date: the bot asks rather than guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from dateutil.relativedelta import relativedelta

# Han ideographs (CJK Unified, Extension A, Compatibility)
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

DIGITS = "零〇一二两三四五六七八九幺壹贰貳叁參肆伍陆陸柒捌玖"
UNITS = "十百千万亿拾佰仟萬億"
_DIGIT_VALUE = {
    **dict.fromkeys("零〇", 0),
    **dict.fromkeys("一幺壹", 1),
    **dict.fromkeys("二两贰貳", 2),
    **dict.fromkeys("三叁參", 3),
    **dict.fromkeys("四肆", 4),
    **dict.fromkeys("五伍", 5),
    **dict.fromkeys("六陆陸", 6),
    **dict.fromkeys("七柒", 7),
    **dict.fromkeys("八捌", 8),
    **dict.fromkeys("九玖", 9),
}
_SCALE = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10_000, "萬": 10_000}
_SCALE.update({"亿": 100_000_000, "億": 100_000_000})

# One character for one, so offsets hold: full-width digits, letters and signs to ASCII, and the
# Traditional forms of the characters these rules read to Simplified.
_NORMALISE = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in "，。：；！？（）"}
    | {"\u3000": " "}
    | dict(zip("兩塊圓號週個後禮萬億錢這幾", "两块圆号周个后礼万亿钱这几", strict=True))
)

_CURRENCIES = {
    "块": "CNY",
    "块钱": "CNY",
    "元": "CNY",
    "元钱": "CNY",
    "圆": "CNY",
    "人民币": "CNY",
    "rmb": "CNY",
    "cny": "CNY",
    "¥": "CNY",
    "￥": "CNY",
    "美元": "USD",
    "美金": "USD",
    "usd": "USD",
    "$": "USD",
    "英镑": "GBP",
    "gbp": "GBP",
    "£": "GBP",
    "欧元": "EUR",
    "eur": "EUR",
    "€": "EUR",
    "港币": "HKD",
    "港元": "HKD",
}
_PREFIX = re.compile(r"(?:([¥￥$£€])|(rmb|cny|usd|gbp|eur|人民币))\s?$", re.I)
_SUFFIX = re.compile(
    r"\s?(块钱|元钱|块|元|圆|人民币|美元|美金|英镑|欧元|港币|港元|(?:rmb|cny|usd|gbp|eur)(?![a-z]))", re.I
)
_NUM_AR = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# a number as written: Arabic with Chinese units ("1千2", "2.5万", "12万3") or Chinese numerals
_CORE = re.compile(rf"(?:{_NUM_AR})(?:[{UNITS}][{DIGITS}\d]?)*|[{DIGITS}十拾][{DIGITS}{UNITS}]*")
_KW = re.compile(r"\s?([kKwW])(?![a-zA-Z])")
# what a number followed by these is not: a day, month, year, duration, count, clock time, share
_NOT_MONEY_AFTER = re.compile(
    r"\s*(?:号|日|月|年|个|天|周|星期|礼拜|期|次|回|遍|点|时|分|秒|岁|%|％|倍|成|折|人|口|位|张|笔|页|楼|层|条|单元|"
    r"栋|室|户|套|件|台|辆|斤|公斤|米|公里|小时|几|:\d|/\d|-\d|[ap]\.?m\b)|[a-zA-Z]",
    re.I,
)
_NOT_MONEY_BEFORE = re.compile(
    r"(?:(?:第|周|星期|礼拜|尾号|后四位是?|后4位是?|号码是?|账号是?|卡号是?|编号是?)\s*|[A-Za-z0-9_.,/:-])$"
)
# English scale and currency words after plain digits: the English rules read those
_ENGLISH_AFTER = re.compile(
    r"\s+(?:thousand|grand|million|billion|hundred|bucks?|dollars?|pounds?|quid|euros?)\b", re.I
)
_RANGE = re.compile(rf"[{DIGITS.replace('零', '').replace('〇', '')}]{{2}}")


@dataclass(frozen=True)
class ZhAmount:
    """An amount in Chinese text: offsets, the text, the major-unit ``amount`` and ``currency``
    (ISO 4217) when the text names one, else None (the account's currency applies)."""

    start: int
    end: int
    text: str
    amount: Decimal
    currency: str | None


@dataclass(frozen=True)
class ZhDate:
    """A calendar date in Chinese text, resolved against the debtor's local ``today``."""

    start: int
    end: int
    text: str
    value: date


@dataclass(frozen=True)
class ZhRecurrence:
    """A repeating schedule in Chinese text: ``freq`` "weekly" or "monthly", ``interval``,
    ``weekday`` (0 = Monday) or ``month_day`` (31 = the month's last day)."""

    start: int
    end: int
    text: str
    freq: str
    interval: int
    weekday: int | None
    month_day: int | None


def has_han(text: str) -> bool:
    """Whether ``text`` contains a Han character (then the Chinese rules apply)."""
    return HAN.search(text) is not None


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every Han character and every span in ``spans`` replaced by spaces (same
    length, so offsets into it are offsets into ``text``): what is left for the English rules."""
    chars = list(HAN.sub(" ", text))
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


@cache
def _cn2an() -> Any:
    import cn2an  # loaded on the first Chinese message only (~0.4 s)

    return cn2an


def chinese_number(text: str) -> Decimal | None:
    """The value of a number written with Chinese numerals, alone or mixed with Arabic digits
    ("三千五" → 3500, "1千2" → 1200, "一万二" → 12000, "2.5万" → 25000, "十六" → 16), or None
    when it is not one number ("两三千" is a range)."""
    text = text.translate(_NORMALISE).replace(",", "").replace("廿", "二十").replace("卅", "三十")
    if not text:
        return None
    plain = re.fullmatch(r"(\d+(?:\.\d+)?)([十百千万亿拾佰仟萬億])?", text)
    if plain:  # digits times one unit, exactly in Decimal ("2.5万")
        return Decimal(plain.group(1)) * _SCALE.get(plain.group(2) or "", 1)
    if _RANGE.search(text) and any(u in text for u in UNITS):
        return None
    try:
        value = _cn2an().cn2an(text, "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _small_number(text: str) -> int | None:
    """A day, month or count: "15", "十五", "二十一"; None for "三五" (a range, "3 to 5")."""
    if len(text) > 1 and not text.isdigit() and not any(c in UNITS or c in "廿卅" for c in text):
        return None
    value = chinese_number(text)
    return int(value) if value is not None and value == value.to_integral_value() else None


def _year(text: str, today: date, past: bool) -> int | None:
    """A year written "1993", "93", "一九九三" or "九三" (digit by digit). Two digits are the
    most recent past year for a birth date (``past``), else the nearest this century."""
    if text.isdigit():
        digits = text
    elif all(c in _DIGIT_VALUE for c in text):
        digits = "".join(str(_DIGIT_VALUE[c]) for c in text)
    else:
        return None
    year = int(digits)
    if len(digits) == 2:
        year += 2000
        if (past and year > today.year) or (not past and year > today.year + 10):
            year -= 100
    elif len(digits) != 4:
        return None
    return year


def _date(year: int, month: int | None, day: int | None) -> date | None:
    if month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


_N = rf"(?:\d{{1,2}}|[{DIGITS}十拾廿卅]{{1,3}})"
_Y = rf"(?:\d{{4}}|\d{{2}}|[{DIGITS}]{{2,4}})"
_REL_MONTH = r"(?P<rel>下下个?|下个?|这个?|本|上个?|次)月的?"
_WEEKDAY_CHARS = "一二三四五六日天1234567"
_WEEKDAY_OF = {c: i for i, c in enumerate("一二三四五六")} | {"日": 6, "天": 6} | {str(i + 1): i for i in range(7)}
_WEEK_WORD = r"(?:周|星期|礼拜)"
_NOT_WEEKDAY_AFTER = r"(?![次回遍个])"

_DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", re.compile(rf"(?P<y>{_Y})\s*年\s*(?P<m>{_N})\s*月\s*(?P<d>{_N})\s*(?:日|号)?")),
    ("ymd", re.compile(r"(?<![\d.])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d.])")),
    ("month_day", re.compile(r"(?<![\d/.-])(?P<m>1[0-2]|0?[1-9])/(?P<d>3[01]|[12]\d|0?[1-9])(?![\d/.-])")),
    ("rel_month_day", re.compile(rf"{_REL_MONTH}\s*(?P<d>{_N})\s*(?:日|号)")),
    ("month_end", re.compile(rf"{_REL_MONTH}月?(?:底|末)|月(?:底|末)")),
    ("year_end", re.compile(r"(?P<rel>今|明|下)?年的?年?(?:底|末)")),
    (
        "month_day",
        re.compile(rf"(?<![\d{DIGITS}十])(?P<m>{_N})\s*月份?\s*(?P<d>{_N})\s*(?:日|号)?(?![\d{DIGITS}十个天年])"),
    ),
    (
        "weekday",
        re.compile(rf"(?P<rel>下下个?|下个?|这个?|本|上个?)?{_WEEK_WORD}(?P<w>[{_WEEKDAY_CHARS}]){_NOT_WEEKDAY_AFTER}"),
    ),
    ("relative_day", re.compile(r"大后天|后天|今天|今日|今儿|今晚|今早|明天|明日|明儿|明早|明晚|昨天|昨日|昨晚|前天")),
    (
        "after_n",
        re.compile(
            rf"(?P<n>\d{{1,3}}|[{DIGITS}十半]{{1,3}})\s*(?P<unit>天|日|个?星期|个?礼拜|周|个月)\s*(?:以后|之后|后|以内|之内|内)"
        ),
    ),
    ("next_week", re.compile(rf"下个?{_WEEK_WORD}(?![{_WEEKDAY_CHARS}末])")),
    ("day_only", re.compile(rf"(?<![\d{DIGITS}十.])(?P<d>{_N})\s*(?:号|日)(?![码线楼床房子期])")),
]
_MONTH_OFFSET = {"下下": 2, "下": 1, "次": 1, "这": 0, "本": 0, "上": -1, "": 0}


def _month_offset(rel: str | None) -> int:
    return _MONTH_OFFSET[(rel or "").rstrip("个")]


def _next_day_of_month(day: int, today: date) -> date | None:
    if not 1 <= day <= 31:
        return None
    candidate = today + relativedelta(day=day)
    if candidate < today or candidate.day != day:
        candidate = today + relativedelta(months=1, day=day)
    return candidate if candidate.day == day else None


def _resolve(kind: str, m: re.Match[str], today: date) -> date | None:
    groups = m.groupdict()
    if kind == "ymd":
        year = _year(groups["y"], today, past=False)
        return _date(year, _small_number(groups["m"]), _small_number(groups["d"])) if year else None
    if kind == "rel_month_day":
        day = _small_number(groups["d"])
        base = today + relativedelta(months=_month_offset(groups["rel"]), day=1)
        return _date(base.year, base.month, day)
    if kind == "month_end":
        return today + relativedelta(months=_month_offset(groups.get("rel")), day=31)
    if kind == "year_end":
        return date(today.year + (1 if groups["rel"] in ("明", "下") else 0), 12, 31)
    if kind == "month_day":
        month, day = _small_number(groups["m"]), _small_number(groups["d"])
        value = _date(today.year, month, day)
        if value is not None and value < today:
            value = _date(today.year + 1, month, day)
        return value
    if kind == "weekday":
        weekday = _WEEKDAY_OF[groups["w"]]
        rel = (groups["rel"] or "").rstrip("个")
        if not rel:  # a bare weekday is the next one, never today (as in English)
            return today + relativedelta(days=(weekday - today.weekday()) % 7 or 7)
        monday = today - relativedelta(days=today.weekday())
        weeks = {"下下": 2, "下": 1, "这": 0, "本": 0, "上": -1}[rel]
        return monday + relativedelta(weeks=weeks, days=weekday)
    if kind == "relative_day":
        word = m.group(0)
        offset = {"大后天": 3, "后天": 2, "前天": -2}.get(word)
        if offset is None:
            offset = 0 if word.startswith("今") else 1 if word.startswith("明") else -1
        return today + relativedelta(days=offset)
    if kind == "after_n":
        unit = groups["unit"].lstrip("个")
        if "半" in groups["n"]:  # "半个月后" is 15 days; "一半", "半天" are no date
            return today + relativedelta(days=15) if groups["n"] == "半" and unit == "月" else None
        n = _small_number(groups["n"])
        if n is None or n == 0 or n > 400:
            return None
        if unit in ("天", "日"):
            return today + relativedelta(days=n)
        if unit == "月":
            return today + relativedelta(months=n)
        return today + relativedelta(weeks=n)
    if kind == "next_week":
        return today + relativedelta(weeks=1)
    if kind == "day_only":
        day = _small_number(groups["d"])
        return _next_day_of_month(day, today) if day is not None else None
    return None


def find_dates(text: str, today: date) -> list[ZhDate]:
    """Dates in Chinese ``text`` resolved against ``today`` (the debtor's local date);
    non-overlapping, in text order."""
    norm = text.translate(_NORMALISE)
    taken: list[tuple[int, int]] = []
    found: list[ZhDate] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(norm):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            value = _resolve(kind, m, today)
            if value is None:
                continue
            taken.append((s, e))
            found.append(ZhDate(s, e, text[s:e], value))
    return sorted(found, key=lambda d: d.start)


_DOB_PATTERNS = [
    re.compile(rf"(?P<y>{_Y})\s*年\s*(?P<m>{_N})\s*月\s*(?P<d>{_N})"),
    re.compile(r"(?<!\d)(?P<y>\d{4})\s*(?P<sep>[-/.])\s*(?P<m>\d{1,2})\s*(?P=sep)\s*(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"),
]


def parse_date_of_birth(text: str, today: date) -> date | None:
    """A full date of birth in Chinese text ("1993年5月16日", "93年5月16", "九三年五月十六号",
    "1993-05-16", "19930516"), or None. A two-digit year is the most recent past one; a date in
    the future or more than 120 years ago is rejected."""
    norm = text.translate(_NORMALISE)
    for pattern in _DOB_PATTERNS:
        for m in pattern.finditer(norm):
            year = _year(m.group("y"), today, past=True)
            value = _date(year, _small_number(m.group("m")), _small_number(m.group("d"))) if year else None
            if value is not None and value <= today and value.year >= today.year - 120:
                return value
    return None


def has_date_of_birth_form(text: str) -> bool:
    """Whether ``text`` has a year-month-day written the Chinese way (valid or not)."""
    norm = text.translate(_NORMALISE)
    return any(pattern.search(norm) for pattern in _DOB_PATTERNS)


def _currency(word: str | None) -> str | None:
    return _CURRENCIES.get(word.lower()) if word else None


def find_amounts(text: str, dates: list[tuple[int, int]] | None = None) -> tuple[list[ZhAmount], list[tuple[int, int]]]:
    """Amounts in Chinese ``text`` that are not part of the spans ``dates``, in text order, and
    the spans of every number these rules decided on (amount or not), which the English rules
    must then leave alone. Plain digits followed by an English scale or currency word ("2
    thousand", "50 bucks") are left to the English rules."""
    norm = text.translate(_NORMALISE)
    dates = dates or []
    found: list[ZhAmount] = []
    decided: list[tuple[int, int]] = []
    for m in _CORE.finditer(norm):
        s, e = m.span()
        if decided and s < decided[-1][1]:
            continue  # the tenths of "10块5毛"
        core = m.group(0)
        arabic_only = core.replace(",", "").replace(".", "").isdigit()
        if arabic_only and _ENGLISH_AFTER.match(norm, e):
            continue
        decided.append((s, e))
        if any(s < de and ds < e for ds, de in dates):
            continue
        before = norm[max(0, s - 6) : s]
        if _NOT_MONEY_BEFORE.search(before) and not _PREFIX.search(before):
            continue
        end = e
        kw = _KW.match(norm, end)
        scale, tail = Decimal(1), Decimal(0)
        if kw and (arabic_only or core[-1] not in UNITS):
            scale = Decimal(1000) if kw.group(1).lower() == "k" else Decimal(10_000)
            end = kw.end()
            place = re.match(r"\d(?![\d.,])", norm[end:])  # "1w5" is 15000, "3k5" 3500
            if place and "." not in core and not _NOT_MONEY_AFTER.match(norm, end + 1):
                tail, end = Decimal(place.group(0)) / 10, end + 1
        prefix = _PREFIX.search(before)
        suffix = _SUFFIX.match(norm, end)
        if suffix:
            end = suffix.end()
        elif _NOT_MONEY_AFTER.match(norm, end):
            continue
        has_unit = any(c in UNITS for c in core)
        currency = _currency(suffix.group(1) if suffix else None) or _currency(
            (prefix.group(1) or prefix.group(2)) if prefix else None
        )
        if not arabic_only and not has_unit and currency is None:
            continue  # "一下", "一起": a lone Chinese digit is money only with 块/元
        if arabic_only and currency is None and scale == 1 and len(core.replace(",", "").split(".")[0]) >= 8:
            continue  # phone, ID and account numbers
        if core in ("一", "两") and suffix and suffix.group(1) == "块" and HAN.match(norm, end) and norm[end] != "钱":
            continue  # "一块去" is "together"
        value = chinese_number(core)
        if value is None:
            continue
        value = (value + tail) * scale
        if suffix and suffix.group(1) in ("块", "元", "块钱", "元钱"):
            value, end = _with_jiao(norm, end, value)
        start = prefix.start() + max(0, s - 6) if prefix else s
        decided[-1] = (start, end)
        found.append(ZhAmount(start, end, text[start:end], value, currency))
    return found, decided


def _with_jiao(norm: str, end: int, value: Decimal) -> tuple[Decimal, int]:
    """Tenths after 块/元: "三块五" → 3.50, "10块5毛" → 10.50; not "500块5号" (a day)."""
    explicit = re.match(rf"([{DIGITS}]|\d)[毛角]", norm[end:])
    bare = re.match(rf"[{DIGITS}](?![{DIGITS}{UNITS}\d])", norm[end:])
    if explicit:
        digit, length = explicit.group(1), explicit.end()
    elif bare and not _NOT_MONEY_AFTER.match(norm, end + 1):
        digit, length = bare.group(0), 1
    else:
        return value, end
    tenths = int(digit) if digit.isdigit() else _DIGIT_VALUE[digit]
    return value + Decimal(tenths) / 10, end + length


_RECURRENCE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("monthly_end", re.compile(r"每个?月的?月?(?:底|末)")),
    ("monthly_day", re.compile(rf"(?:每个?月|按月)的?\s*(?P<d>{_N})\s*(?:号|日)")),
    (
        "biweekly",
        re.compile(
            rf"(?:每两|每隔一|每2|每二|隔|双)个?{_WEEK_WORD}的?(?:{_WEEK_WORD}?(?P<w>[{_WEEKDAY_CHARS}]){_NOT_WEEKDAY_AFTER})?"
        ),
    ),
    ("n_weeks", re.compile(rf"每隔?(?P<n>[3-4三四])个?{_WEEK_WORD}")),
    ("weekly_day", re.compile(rf"每个?{_WEEK_WORD}(?P<w>[{_WEEKDAY_CHARS}]){_NOT_WEEKDAY_AFTER}")),
    ("weekly", re.compile(rf"每个?{_WEEK_WORD}|按周|周供|一个?(?:星期|礼拜|周)(?=\s*[\d{DIGITS}])")),
    ("monthly", re.compile(rf"每个?月|按月|月供|月付|一个?月(?=\s*(?:还|付|交|给)?\s*[\d{DIGITS}])")),
]


def find_recurrences(text: str) -> list[ZhRecurrence]:
    """Repeating schedules in Chinese text: "每月15号", "每个月", "每周五", "隔周五",
    "每两周", "每月底", "一个月500" (monthly)."""
    norm = text.translate(_NORMALISE)
    taken: list[tuple[int, int]] = []
    found: list[ZhRecurrence] = []
    for kind, pattern in _RECURRENCE_PATTERNS:
        for m in pattern.finditer(norm):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            groups = m.groupdict()
            weekday = _WEEKDAY_OF[groups["w"]] if groups.get("w") else None
            if kind == "monthly_end":
                rec = ZhRecurrence(s, e, text[s:e], "monthly", 1, None, 31)
            elif kind == "monthly_day":
                day = _small_number(groups["d"])
                if day is None or not 1 <= day <= 31:
                    continue
                rec = ZhRecurrence(s, e, text[s:e], "monthly", 1, None, day)
            elif kind == "biweekly":
                rec = ZhRecurrence(s, e, text[s:e], "weekly", 2, weekday, None)
            elif kind == "n_weeks":
                rec = ZhRecurrence(s, e, text[s:e], "weekly", int(chinese_number(groups["n"]) or 1), None, None)
            elif kind in ("weekly_day", "weekly"):
                rec = ZhRecurrence(s, e, text[s:e], "weekly", 1, weekday, None)
            else:
                rec = ZhRecurrence(s, e, text[s:e], "monthly", 1, None, None)
            taken.append((s, e))
            found.append(rec)
    return sorted(found, key=lambda r: r.start)
