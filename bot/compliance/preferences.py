"""Contact times the debtor states ("call me after 6pm", "nothing before 10 am", "mornings only",
"after work", "weekends only", "not on Sundays"), which make other times inconvenient (12 CFR
1006.6(b)(1)(i)). The words for parts of the day and for days are data
(``data/contact_preferences.yml``), as are the words that name a channel in an opt-out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from functools import cache

from bot.settings import DataFileError, read_data_file, required_field

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday = 0, as datetime.weekday()

_CLOCK = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"
_AFTER = re.compile(rf"\b(?:after|not before|nothing before|no earlier than|from)\s+{_CLOCK}", re.I)
_BEFORE = re.compile(
    rf"(?<!nothing )(?<!not )\b(?:before|not after|nothing after|no later than|until|till)\s+{_CLOCK}", re.I
)


def _to_time(hour: str, minute: str | None, meridiem: str | None, evening_default: bool) -> time | None:
    h, m = int(hour), int(minute or 0)
    if meridiem:
        pm = meridiem.lower().startswith("p")
        h = (h % 12) + (12 if pm else 0)
    elif evening_default and 1 <= h <= 7:
        h += 12  # "after 6" about calls means 6 pm
    return time(h, m) if 0 <= h < 24 and 0 <= m < 60 else None


@dataclass(frozen=True)
class PreferenceWords:
    """Phrases for parts of the day (each with ``earliest``/``latest`` local times) and for days
    (each with the weekdays it allows, Monday = 0), from ``data/contact_preferences.yml``."""

    spans: tuple[tuple[re.Pattern[str], time | None, time | None], ...]
    days: tuple[tuple[re.Pattern[str], frozenset[int]], ...]
    channels: tuple[tuple[str, re.Pattern[str]], ...] = ()


def _phrases(words: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.I)


@cache
def preference_words() -> PreferenceWords:
    """Parsed ``data/contact_preferences.yml``. Raises DataFileError naming the field."""
    file = "contact_preferences.yml"
    raw = read_data_file(file)
    spans = []
    for i, entry in enumerate(required_field(raw, "day_parts", file)):
        try:
            earliest = time.fromisoformat(entry["earliest"]) if entry.get("earliest") else None
            latest = time.fromisoformat(entry["latest"]) if entry.get("latest") else None
            spans.append((_phrases(list(entry["words"])), earliest, latest))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(f"data/{file}: day_parts[{i}] needs words and HH:MM earliest/latest: {exc}") from exc
    days = []
    for i, entry in enumerate(required_field(raw, "days", file)):
        allowed = frozenset(DAYS.index(d) for d in entry.get("allow") or [] if d in DAYS)
        if not allowed or not entry.get("words"):
            raise DataFileError(f"data/{file}: days[{i}] needs words and allow (some of {', '.join(DAYS)})")
        days.append((_phrases(list(entry["words"])), allowed))
    channels = required_field(raw, "channels", file)
    if not isinstance(channels, dict) or not all(isinstance(v, list) and v for v in channels.values()):
        raise DataFileError(f"data/{file}: 'channels' must map contact channels to words")
    return PreferenceWords(tuple(spans), tuple(days), tuple((str(c), _phrases(list(w))) for c, w in channels.items()))


def named_channels(text: str) -> list[str]:
    """The contact channels ``text`` names ("stop calling me" → ["voice"], "no calls or texts" →
    ["voice", "sms"]), in ``data/contact_preferences.yml`` order; [] when it names none."""
    return [channel for channel, pattern in preference_words().channels if pattern.search(text)]


def parse_contact_preference(text: str) -> dict[str, time | frozenset[int]]:
    """``{"earliest": time, "latest": time, "days": frozenset of weekdays}`` (each may be absent)
    from a debtor's words: clock times ("after 6pm", "not before 10"), then parts of the day
    ("mornings", "after work", "at lunch") and days ("weekends only", "not on Sundays"). The times
    are the debtor's local times."""
    out: dict[str, time | frozenset[int]] = {}
    for key, pattern in (("earliest", _AFTER), ("latest", _BEFORE)):
        match = pattern.search(text)
        value = _to_time(match.group(1), match.group(2), match.group(3), evening_default=True) if match else None
        if value is not None:
            out[key] = value
    words = preference_words()
    if not out:
        for pattern, earliest, latest in words.spans:
            if pattern.search(text):
                if earliest is not None:
                    out["earliest"] = earliest
                if latest is not None:
                    out["latest"] = latest
                break
    for pattern, allowed in words.days:
        if pattern.search(text):
            out["days"] = allowed
            break
    return out


def as_detail(preference: dict[str, time | frozenset[int]]) -> str:
    """The contact-log detail the gate reads back: "earliest=18:00;latest=21:00;days=sat,sun"."""
    parts = []
    for key, value in sorted(preference.items()):
        if isinstance(value, time):
            parts.append(f"{key}={value.strftime('%H:%M')}")
        else:
            parts.append(f"{key}={','.join(DAYS[d] for d in sorted(value))}")
    return ";".join(parts)


# "stop calling me at work", "my boss doesn't allow calls at work", "don't ring my office"
_WORK_PLACE = (
    r"(?:(?:at|to|on|in) (?:my |the )?|my )(?:work|job|office|workplace|place of work|employer)\b"
    r"|\bwork (?:phone|number|line)\b"
)
_WORK_STOP = re.compile(
    rf"\b(?:stop|don'?t|do not|never|no more|quit|not)\b[^.?!]{{0,40}}?\b(?:call|ring|phone|text|contact|message)\w*\b[^.?!]{{0,20}}?(?:{_WORK_PLACE})",
    re.I,
)
_WORK_BAN = re.compile(
    r"\b(?:employer|boss|work|job|company|manager)\b[^.?!]{0,30}?\b(?:doesn'?t|does not|won'?t|will not|don'?t|do not)\b"
    r"[^.?!]{0,10}?\b(?:allow|let|permit)\b|\b(?:can'?t|cannot|not allowed to|not supposed to) (?:take|get|have|receive|answer) "
    r"(?:personal |private )?(?:calls|phone calls|texts)[^.?!]{0,10}?\bat (?:work|my job|the office)\b",
    re.I,
)


def mentions_work_restriction(text: str) -> bool:
    """Whether the debtor says not to contact them at work, or that their employer prohibits it
    (12 CFR 1006.6(b)(3); 15 U.S.C. 1692c(a)(3); the UK's "stop calling me at work", CONC
    7.9.4R): recorded as ``work_contact_prohibited``, after which the gate refuses calls and texts
    to their work number."""
    return bool(_WORK_STOP.search(text) or _WORK_BAN.search(text))
