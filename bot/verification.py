"""Right-party contact (RPC) verification: date of birth plus a second factor.

Nothing about the debt may be disclosed before this passes (15 U.S.C. 1692b, 12 CFR 1006.6(d)).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache

import phonenumbers

from bot.extraction import normalise_numbers
from bot.settings import DataFileError, read_data_file, required_field

_UK_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b", re.I)
_DIGIT_GROUP = re.compile(r"(?<!\d)\d{4,6}(?:-\d{4})?(?!\d)")
_ACCOUNT_REF = re.compile(r"\b([A-Z])\s*-?\s*(\d{4})\b", re.I)


@dataclass(frozen=True)
class IdentityRecord:
    """What the system of record knows to check a caller against."""

    date_of_birth: date
    postcode: str
    last_four: str


def normalise_postcode(text: str) -> str:
    """Upper case without spaces; a US ZIP+4 keeps its five-digit ZIP."""
    compact = re.sub(r"\s+", "", text).upper()
    return compact.split("-")[0] if re.fullmatch(r"\d{5}-\d{4}", compact) else compact


def second_factor_matches(record: IdentityRecord, text: str, factors: tuple[str, ...]) -> bool:
    """True when ``text`` holds the record's postcode or account last four (as allowed by ``factors``).

    The last four must stand alone as a four-digit group, so "02139" never matches "2139".
    """
    # voice: "zero two one three nine" arrives as "0 2 1 3 9"; full-width digits ("６０６０１") as ASCII
    text = _join_spoken_digits(unicodedata.normalize("NFKC", text))
    wanted = normalise_postcode(record.postcode)
    if "postcode" in factors:
        for match in _UK_POSTCODE.finditer(text):
            if normalise_postcode(match.group(1) + match.group(2)) == wanted:
                return True
    groups = [normalise_postcode(g) for g in _DIGIT_GROUP.findall(text)]
    if "postcode" in factors and wanted in groups:
        return True
    return "account_last_four" in factors and record.last_four in groups


def _join_spoken_digits(text: str) -> str:
    """Voice transcripts say codes digit by digit: "zero two one three nine" / "oh 2 1 3 9" → "02139"."""
    text = normalise_numbers(
        re.sub(r"\boh\b(?=\s+(?:\d|zero|one|two|three|four|five|six|seven|eight|nine)\b)", "0", text, flags=re.I)
    )
    return re.sub(r"\b\d{1,2}(?:\s+\d{1,2}\b)+", lambda m: re.sub(r"\s+", "", m.group(0)), text)


def has_second_factor_shape(text: str) -> bool:
    """Whether the text could be a postcode or last four at all (for re-asking, not for matching)."""
    text = _join_spoken_digits(text)
    return bool(_UK_POSTCODE.search(text) or _DIGIT_GROUP.search(text))


def parse_account_reference(text: str) -> str | None:
    """An account reference such as "A-1001" (any spacing or case) from text, upper-cased, or None."""
    match = _ACCOUNT_REF.search(text)
    return f"{match.group(1).upper()}-{match.group(2)}" if match else None


def parse_phone(text: str, default_region: str = "US") -> str | None:
    """The first phone number in ``text`` in E.164 form (libphonenumber), or None."""
    for match in phonenumbers.PhoneNumberMatcher(text, default_region, leniency=phonenumbers.Leniency.POSSIBLE):
        return str(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    return None


def sender_phone(sender_id: str) -> str | None:
    """A conversation sender id that is an E.164 phone number, normalised; None otherwise."""
    if not sender_id.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(sender_id, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


@cache
def _third_party_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(patterns that say it on their own, the same or any plain phrase) of data/third_party.yml."""
    file = "third_party.yml"
    data = read_data_file(file)
    patterns = required_field(data, "patterns", file)
    phrases = required_field(data, "phrases", file)
    if not isinstance(patterns, list) or not patterns or not isinstance(phrases, list) or not phrases:
        raise DataFileError(f"data/{file}: 'patterns' and 'phrases' must list regular expressions and phrases")
    try:
        strong = re.compile("|".join(f"(?:{p})" for p in patterns), re.I)
    except re.error as error:
        raise DataFileError(f"data/{file}: a pattern is not a regular expression: {error}") from error
    latin = [p for p in phrases if str(p).isascii()]
    han = [str(p) for p in phrases if not str(p).isascii()]
    parts = [r"\b(?:" + "|".join(re.escape(str(p)) for p in latin) + r")\b"] if latin else []
    weak = re.compile("|".join([strong.pattern, *parts, *(re.escape(p) for p in han)]), re.I)
    return strong, weak


def speaks_for_debtor(text: str) -> bool:
    """Whether a message says on its own that its writer answers for the debtor ("I'm his wife",
    "she's not home", "can I take a message"): ``patterns`` of ``data/third_party.yml``, heard
    before verification whatever the NLU read (15 U.S.C. 1692b)."""
    return bool(_third_party_patterns()[0].search(text.replace("’", "'")))


def third_party_for_debtor(text: str) -> bool:
    """Whether a message from someone who is not the debtor speaks for them ("he's at work, can I
    take a message", "my mother's phone") rather than being a wrong number: ``patterns`` or
    ``phrases`` of ``data/third_party.yml``."""
    return bool(_third_party_patterns()[1].search(text.replace("’", "'")))
