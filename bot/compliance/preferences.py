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
