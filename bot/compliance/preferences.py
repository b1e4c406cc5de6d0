"""Contact times the debtor states ("call me after 6pm", "nothing before 10 am"), which make other
times inconvenient (12 CFR 1006.6(b)(1)(i))."""

from __future__ import annotations

import re
from datetime import time

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


def parse_contact_preference(text: str) -> dict[str, time]:
    """``{"earliest": time, "latest": time}`` (either may be absent) from a debtor's words."""
    out: dict[str, time] = {}
    for key, pattern in (("earliest", _AFTER), ("latest", _BEFORE)):
        match = pattern.search(text)
        value = _to_time(match.group(1), match.group(2), match.group(3), evening_default=True) if match else None
        if value is not None:
            out[key] = value
    return out


def as_detail(preference: dict[str, time]) -> str:
    """The contact-log detail the gate reads back: "earliest=18:00;latest=21:00"."""
    return ";".join(f"{k}={v.strftime('%H:%M')}" for k, v in sorted(preference.items()))


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
