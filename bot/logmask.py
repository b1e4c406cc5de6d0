"""Mask personal data in every log record of the process: phone numbers, full dates (a date of
birth is a full date) and account references.

Installed as the logging record factory, so it covers every logger and handler, including
Rasa's, rasa_sdk's and Sanic's, and exception text. Masking keeps what an operator needs to tell
records apart: the last two digits of a phone number or account reference.

- ``+17735550105`` → ``+*********05``; ``(617) 555-0101`` → ``(***) ***-**01``
- ``A-5300`` → ``A-**00``
- ``1985-04-12``, ``04/12/1985``, ``April 12 1985``, ``12th of April, 1985`` → ``[date]``
- a payment card number (13 to 19 digits passing the Luhn check) → ``[card number removed]``:
  card numbers are kept out of logs, trackers and the contact log altogether (PCI DSS 3.4)
"""

from __future__ import annotations

import logging
import re
from typing import Any

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATES = re.compile(
    r"(?<!\w)(?:"
    r"(?<!/)(?:1[89]|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}(?!/)"  # 1985-04-12 (not a URL path segment)
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:1[89]|20)\d\d"  # 04/12/1985, 12.04.1985 (not a version 3.10.13)
    rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}}"  # April 12 1985, Apr 12th, 1985
    rf"|{_DAY}(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}"  # 12 April 1985, 12th of April, 1985
    r")(?!\w)",
    re.IGNORECASE,
)
# 9 to 15 digits with optional separators, not part of a longer word (Twilio SIDs stay intact)
_PHONE = re.compile(r"(?<![\w*])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?![\w*])")
_ACCOUNT = re.compile(r"(?<![\w-])A-(\d+)(\d\d)(?!\w)", re.IGNORECASE)


_CARD = re.compile(r"(?<![\w*])\d(?:[ -]?\d){12,18}(?![\w*])")
CARD_REMOVED = "[card number removed]"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def remove_card_numbers(text: str) -> tuple[str, bool]:
    """(``text`` with every payment card number replaced by :data:`CARD_REMOVED`, whether one
    was). A card number is 13 to 19 digits, spaces or dashes between them, passing the Luhn check."""
    found = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        digits = re.sub(r"\D", "", match.group(0))
        if _luhn(digits):
            found = True
            return CARD_REMOVED
        return match.group(0)

    return _CARD.sub(replace, text), found


def _mask_digits(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    keep = set(digits[-2:])
    return "".join("*" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(text))


def mask(text: str) -> str:
    """``text`` with card numbers, full dates, phone numbers and account references masked (see
    module doc)."""
    text = remove_card_numbers(text)[0]
    text = _DATES.sub("[date]", text)
    text = _PHONE.sub(_mask_digits, text)
    return _ACCOUNT.sub(lambda m: "A-" + "*" * len(m.group(1)) + m.group(2), text)


def carries_personal_data(text: str) -> bool:
    """Whether ``text`` holds a full date, a phone number or an account reference (what
    :func:`mask` hides)."""
    return mask(text) != text


_installed = False


def install() -> None:
    """Make every log record created in this process carry masked text (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg = mask(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        except Exception:  # a record that cannot be formatted is left for logging to report
            pass
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
