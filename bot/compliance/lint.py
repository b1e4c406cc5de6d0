"""Content lint for every outgoing message: prohibited wording by jurisdiction, the SMS opt-out
footer, and SMS segment counting (GSM 03.38 7-bit vs UCS-2)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.compliance.profiles import Profile

# GSM 03.38 basic character set; the extension table characters cost two septets.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Violation:
    """A prohibited phrase found: the rule id, its citation and the matched text."""

    rule: str
    citation: str
    match: str


@dataclass(frozen=True)
class SmsSegments:
    """How an SMS goes over the air: ``encoding`` "GSM-7" or "UCS-2", ``units`` (septets or
    UTF-16 code units) and ``segments`` (160/153 septets or 70/67 units per segment)."""

    encoding: str
    units: int
    segments: int


@dataclass(frozen=True)
class LintResult:
    """Outcome of :func:`lint`: ``ok`` when nothing is violated and, for SMS, the footer is there
    and the message fits ``max_segments``."""

    violations: tuple[Violation, ...]
    missing_footer: bool
    sms: SmsSegments | None
    too_long: bool

    @property
    def ok(self) -> bool:
        return not self.violations and not self.missing_footer and not self.too_long


def _segments(sizes: list[int], single: int, part: int) -> int:
    """Segments for characters of ``sizes`` units each: one when all fit in ``single`` units,
    else parts of ``part`` units in which no character is cut in two (an escaped GSM-7
    character or a UTF-16 surrogate pair starts the next part instead), as carriers and Twilio
    count them."""
    if sum(sizes) <= single:
        return 1
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def sms_segments(text: str) -> SmsSegments:
    """Segment count of ``text`` as an SMS (3GPP TS 23.038 / 23.040): GSM-7 when every character
    is in the GSM 03.38 set (160 septets, or 153 a part; extension characters cost two), else
    UCS-2 (70 UTF-16 units, or 67 a part; characters beyond the BMP cost two)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        sizes = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        return SmsSegments("GSM-7", sum(sizes), _segments(sizes, 160, 153))
    sizes = [len(ch.encode("utf-16-le")) // 2 for ch in text]
    return SmsSegments("UCS-2", sum(sizes), _segments(sizes, 70, 67))


# typographic characters and their GSM-7 equivalents: one curly quote makes a message UCS-2
# (70 characters a segment instead of 160)
_GSM7_EQUIVALENTS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2007": " ",
        "\u2022": "-",
        "\u00b7": "-",
    }
)


def gsm7_wording(text: str) -> str:
    """``text`` with typographic quotes, dashes, ellipses and special spaces written in GSM-7
    when that makes the whole text GSM-7; otherwise (Chinese, emoji, ...) ``text`` unchanged,
    since it goes as UCS-2 anyway."""
    plain = text.translate(_GSM7_EQUIVALENTS)
    return plain if plain != text and sms_segments(plain).encoding == "GSM-7" else text


def with_footer(text: str, profile: Profile) -> str:
    """``text`` with the profile's SMS opt-out footer appended once (12 CFR 1006.6(e))."""
    footer = profile.sms_opt_out_footer
    return text if footer.lower() in text.lower() else f"{text.rstrip()} {footer}"


def find_violations(text: str, profile: Profile, time_barred: bool = False) -> list[Violation]:
    """Prohibited wording in ``text`` under ``profile``; the rules for a time-barred debt
    (``when: time_barred``, 12 CFR 1006.26(b)) only when ``time_barred``."""
    found = []
    for rule in profile.prohibited_wording:
        if rule.when == "time_barred" and not time_barred:
            continue
        match = rule.pattern.search(text)
        if match:
            found.append(Violation(rule.id, rule.citation, match.group(0)))
    return found


def lint(text: str, profile: Profile, channel: str, time_barred: bool = False) -> LintResult:
    """Lint one outgoing message for ``channel`` (sms messages must already carry the footer);
    ``time_barred`` adds the rules for a debtor whose debt is time-barred."""
    violations = tuple(find_violations(text, profile, time_barred))
    if channel != "sms":
        return LintResult(violations, False, None, False)
    segments = sms_segments(text)
    footers = {profile.sms_opt_out_footer, *profile.sms_opt_out_footers.values()}
    missing = not any(footer.lower() in text.lower() for footer in footers)
    return LintResult(violations, missing, segments, segments.segments > profile.sms_max_segments)
