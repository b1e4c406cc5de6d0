"""Jurisdiction profiles (``data/compliance/*.yml``), validated at load time.

A profile may ``extends`` another (``US-MA`` extends ``US``): lists of rules are merged by rule
``id`` (the child adds or replaces), scalars are overridden. Every rule carries its citation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import DataFileError

DATA = Path(__file__).resolve().parent.parent.parent / "data" / "compliance"
CHANNELS = ("sms", "voice", "email", "webchat", "rest")
# Rasa input channel names that differ from the contact channel they carry
INPUT_CHANNELS = {"twilio_sms": "sms", "twilio_voice": "voice"}
# Contact-log events a frequency cap may count. ``call_attempt`` is every call placed;
# ``call_unanswered`` a placed call nobody answered (no answer, busy, failed) and
# ``telephone_conversation`` a call answered by a person (an "effective" call), by a collector or
# by the voice bot: China counts these two apart (GB/T 45251—2025; CBA guideline 2026).
COUNTED_EVENTS = ("call_attempt", "call_unanswered", "telephone_conversation", "sms_sent", "email_sent")
CAP_SCOPES = ("debt", "contact_method")


def contact_channel(input_channel: str | None) -> str:
    """The contact channel ("sms", "voice", "webchat", "rest") of a Rasa input channel name
    ("twilio_sms" → "sms"; none → "rest"). The opt-out ledger, the contact log and the gate all
    use these names, so an opt-out typed in words reaches the same channel as the STOP keyword
    (12 CFR 1006.6(e))."""
    name = input_channel or "rest"
    return INPUT_CHANNELS.get(name, name)


PHONE_KINDS = ("mobile", "home", "work")
# the contact window applies to these channels unless a profile says otherwise: an e-mail is sent,
# not taken at a time, so no window applies to sending one (a product decision)
WINDOW_CHANNELS = ("sms", "voice", "webchat", "rest")


@dataclass(frozen=True)
class ContactWindow:
    """Allowed local contact hours [start, end) in the debtor's time zone(s), on ``channels``."""

    start: time
    end: time
    citation: str
    channels: tuple[str, ...] = WINDOW_CHANNELS


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``max`` events of kinds ``counts`` on ``channels`` in ``window_days`` days, per debt
    (``per`` "debt") or per contact method, one phone number or address (``per``
    "contact_method"). ``max: 0`` means none at all in the window (e.g. 7 days after a telephone
    conversation)."""

    id: str
    channels: tuple[str, ...]
    counts: tuple[str, ...]
    max: int
    window_days: int
    citation: str
    per: str = "debt"
    phone_kinds: tuple[str, ...] | None = None  # only contacts to numbers of these kinds (None: any)


@dataclass(frozen=True)
class ThirdPartyRule:
    """When someone other than the debtor (a contact the debtor gave, a relative) may be
    contacted: only after one of ``allowed_after`` (contact-log events such as
    ``debtor_unreachable``, ``deceased``, ``lacks_capacity``), never again after
    ``refusal_event`` from that contact's address, and never told of the debt."""

    allowed_after: tuple[str, ...]
    refusal_event: str
    citation: str


@dataclass(frozen=True)
class CallRecording:
    """Calls are recorded when ``required``; recordings are kept ``retention_days`` days (the
    lender's setting)."""

    required: bool
    retention_days: int
    citation: str


@dataclass(frozen=True)
class Hold:
    """Contact stops after ``event`` (on that ``channel`` only when scope is "channel"), until
    ``until_event`` (and ``grace_days`` after it, when given) or for ``days`` when given, else
    indefinitely. With ``phone_kinds`` it stops only contacts to numbers of those kinds (e.g. no
    calls to a work number, 12 CFR 1006.6(b)(3))."""

    id: str
    event: str
    scope: str
    citation: str
    until_event: str | None = None
    days: int | None = None
    grace_days: int | None = None
    phone_kinds: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WordingRule:
    """Wording a message must never contain; with ``when`` "time_barred" only to a debtor whose
    debt is time-barred (12 CFR 1006.26(b))."""

    id: str
    pattern: re.Pattern[str]
    citation: str
    when: str = "always"


@dataclass(frozen=True)
class Disclosure:
    """One disclosure: its ``text`` by language (ISO 639-1; the first is the default), ``when``
    it is given and the rule's ``citation``."""

    text: dict[str, str]
    when: str
    citation: str

    def text_for(self, language: str | None) -> str:
        """The text in ``language``, else in the profile's first language."""
        return self.text.get(language or "", next(iter(self.text.values())))


@dataclass(frozen=True)
class Disclosures:
    """What a jurisdiction says about who we are, and when (``disclosures`` in a profile).

    ``before_rpc``: what may be said before right-party contact, "business_name" (the business
    name of data/company.yml and the identity questions, nothing that tells a third party the
    message is about a debt: 15 U.S.C. 1692b, 1692c(b); 12 CFR 1006.6(d)). ``first``: the first
    thing said once identity is confirmed, before any debt detail, in the first conversation with
    the right party (the mini-Miranda, 12 CFR 1006.18(e)(1)). ``later``: the same moment in every
    later conversation (12 CFR 1006.18(e)(2)). ``later_conversation`` defines a later
    conversation. ``business_name_must_not_match``: words the business name must not contain.
    """

    before_rpc: str
    first: Disclosure
    later: Disclosure
    later_conversation: str
    business_name_must_not_match: re.Pattern[str]


@dataclass(frozen=True)
class Profile:
    """One jurisdiction's rules."""

    jurisdiction: str
    contact_window: ContactWindow
    frequency_caps: tuple[FrequencyCap, ...]
    holds: tuple[Hold, ...]
    prohibited_wording: tuple[WordingRule, ...]
    sms_opt_out_footer: str  # in the default language
    sms_max_segments: int
    sms_footer_per_reply: bool  # the footer once per reply (on its last message), else on every message
    first_disclosure: str
    subsequent_disclosure: str
    disclosures: Disclosures
    third_parties: ThirdPartyRule | None = None
    call_recording: CallRecording | None = None
    sms_opt_out_footers: dict[str, str] = field(default_factory=dict)  # by language (ISO 639-1)

    def sms_footer(self, language: str | None) -> str:
        """The SMS opt-out instruction in ``language``, else in the default language."""
        return self.sms_opt_out_footers.get(language or "", self.sms_opt_out_footer)


def _raw(name: str) -> dict[str, Any]:
    path = DATA / f"{name.lower()}.yml"
    if not path.exists():
        raise DataFileError(f"no compliance profile file for '{name}' ({path.name})")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise DataFileError(f"{path.name}: expected a mapping")
    parent = raw.get("extends")
    if not parent:
        return raw
    merged = dict(_raw(parent))
    for key, value in raw.items():
        if isinstance(value, list) and isinstance(merged.get(key), list):
            by_id = {item.get("id"): item for item in merged[key]}
            by_id.update({item.get("id"): item for item in value})
            merged[key] = list(by_id.values())
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise DataFileError(f"{where}: '{value}' is not a time like 08:00") from exc


def _need(item: dict[str, Any], field: str, where: str) -> Any:
    if field not in item or item[field] in (None, ""):
        raise DataFileError(f"{where}: missing field '{field}'")
    return item[field]


def _footers(raw: Any, source: str) -> dict[str, str]:
    """``opt_out_footer``: one text (English) or one per language, English among them."""
    footers = {"en": raw} if isinstance(raw, str) else raw
    if not isinstance(footers, dict) or not isinstance(footers.get("en"), str) or not footers["en"]:
        raise DataFileError(f"{source}: sms.opt_out_footer must be a text or texts by language with 'en'")
    return {str(k): str(v) for k, v in footers.items()}


def parse_profile(raw: dict[str, Any], source: str) -> Profile:
    """Validate a merged profile mapping; DataFileError names the file, rule and field."""
    window = _need(raw, "contact_window", source)
    caps = []
    for item in raw.get("frequency_caps") or []:
        where = f"{source}: frequency_caps[{item.get('id', '?')}]"
        channels = tuple(_need(item, "channels", where))
        counts = tuple(_need(item, "counts", where))
        if bad := [c for c in channels if c not in CHANNELS]:
            raise DataFileError(f"{where}: field 'channels' has unknown channel(s) {bad}")
        if bad := [c for c in counts if c not in COUNTED_EVENTS]:
            raise DataFileError(f"{where}: field 'counts' has unknown event(s) {bad}")
        maximum, days = item.get("max"), item.get("window_days")
        if not isinstance(maximum, int) or maximum < 0:
            raise DataFileError(f"{where}: field 'max' must be a non-negative integer")
        if not isinstance(days, int) or days < 1:
            raise DataFileError(f"{where}: field 'window_days' must be a positive integer")
        per = str(item.get("per", "debt"))
        if per not in CAP_SCOPES:
            raise DataFileError(f"{where}: field 'per' must be one of {list(CAP_SCOPES)}")
        caps.append(
            FrequencyCap(
                _need(item, "id", where),
                channels,
                counts,
                maximum,
                days,
                _need(item, "citation", where),
                per,
                _phone_kinds(item, where),
            )
        )
    holds = []
    for item in raw.get("holds") or []:
        where = f"{source}: holds[{item.get('id', '?')}]"
        scope = _need(item, "scope", where)
        if scope not in ("channel", "all"):
            raise DataFileError(f"{where}: field 'scope' must be 'channel' or 'all'")
        grace = item.get("grace_days")
        if grace is not None and (not isinstance(grace, int) or grace < 0 or not item.get("until_event")):
            raise DataFileError(f"{where}: field 'grace_days' must be a non-negative integer after an 'until_event'")
        holds.append(
            Hold(
                _need(item, "id", where),
                _need(item, "event", where),
                scope,
                _need(item, "citation", where),
                item.get("until_event"),
                item.get("days"),
                grace,
                _phone_kinds(item, where),
            )
        )
    wording = []
    for item in raw.get("prohibited_wording") or []:
        where = f"{source}: prohibited_wording[{item.get('id', '?')}]"
        try:
            pattern = re.compile(_need(item, "pattern", where), re.I)
        except re.error as exc:
            raise DataFileError(f"{where}: field 'pattern' is not a valid regular expression: {exc}") from exc
        when = item.get("when", "always")
        if when not in ("always", "time_barred"):
            raise DataFileError(f"{where}: field 'when' must be 'always' or 'time_barred'")
        wording.append(WordingRule(_need(item, "id", where), pattern, _need(item, "citation", where), when))
    sms = _need(raw, "sms", source)
    disclosures = _need(raw, "disclosures", source)
    window_channels = tuple(window.get("channels") or WINDOW_CHANNELS)
    if bad := [c for c in window_channels if c not in CHANNELS]:
        raise DataFileError(f"{source}: contact_window: field 'channels' has unknown channel(s) {bad}")
    return Profile(
        third_parties=_third_parties(raw.get("third_parties"), source),
        call_recording=_call_recording(raw.get("call_recording"), source),
        jurisdiction=_need(raw, "jurisdiction", source),
        contact_window=ContactWindow(
            _time(_need(window, "start", f"{source}: contact_window"), f"{source}: contact_window.start"),
            _time(_need(window, "end", f"{source}: contact_window"), f"{source}: contact_window.end"),
            _need(window, "citation", f"{source}: contact_window"),
            window_channels,
        ),
        frequency_caps=tuple(caps),
        holds=tuple(holds),
        prohibited_wording=tuple(wording),
        sms_opt_out_footer=_footers(_need(sms, "opt_out_footer", f"{source}: sms"), source)["en"],
        sms_opt_out_footers=_footers(sms["opt_out_footer"], source),
        sms_max_segments=int(_need(sms, "max_segments", f"{source}: sms")),
        sms_footer_per_reply=_footer_placement(sms.get("footer", "per_message"), source),
        first_disclosure=_need(disclosures, "first", f"{source}: disclosures"),
        subsequent_disclosure=_need(disclosures, "subsequent", f"{source}: disclosures"),
        disclosures=_disclosures(disclosures, f"{source}: disclosures"),
    )


DISCLOSURE_TIMES = ("after_rpc",)
BEFORE_RPC = ("business_name",)


def _phone_kinds(item: dict[str, Any], where: str) -> tuple[str, ...] | None:
    kinds = item.get("phone_kinds")
    if kinds is None:
        return None
    if not isinstance(kinds, list) or not kinds or any(k not in PHONE_KINDS for k in kinds):
        raise DataFileError(f"{where}: field 'phone_kinds' must list some of {list(PHONE_KINDS)}")
    return tuple(kinds)


def _disclosure(raw: dict[str, Any], text_key: str, where: str) -> Disclosure:
    """``first``/``subsequent`` (the texts, a string or a mapping language -> text) with their
    ``first_when``/``subsequent_when`` and citations."""
    text = _need(raw, text_key, where)
    texts = {"en": text} if isinstance(text, str) else text
    if not isinstance(texts, dict) or not texts or not all(isinstance(v, str) and v for v in texts.values()):
        raise DataFileError(f"{where}: field '{text_key}' must be a text or map languages to texts")
    when = raw.get(f"{text_key}_when", "after_rpc")
    if when not in DISCLOSURE_TIMES:
        raise DataFileError(f"{where}: field '{text_key}_when' must be one of {list(DISCLOSURE_TIMES)}")
    return Disclosure({str(k): str(v) for k, v in texts.items()}, when, str(_need(raw, f"{text_key}_citation", where)))


def _disclosures(raw: dict[str, Any], where: str) -> Disclosures:
    before = raw.get("before_rpc", "business_name")
    if before not in BEFORE_RPC:
        raise DataFileError(f"{where}: field 'before_rpc' must be one of {list(BEFORE_RPC)}")
    pattern = raw.get("business_name_must_not_match", r"\b(debt|collect\w*|recover\w*|arrears|overdue)\b")
    try:
        compiled = re.compile(str(pattern), re.I)
    except re.error as exc:
        raise DataFileError(
            f"{where}: field 'business_name_must_not_match' is not a regular expression: {exc}"
        ) from exc
    return Disclosures(
        before_rpc=before,
        first=_disclosure(raw, "first", where),
        later=_disclosure(raw, "subsequent", where),
        later_conversation=str(_need(raw, "later_conversation", where)),
        business_name_must_not_match=compiled,
    )


def _footer_placement(value: Any, source: str) -> bool:
    if value not in ("per_reply", "per_message"):
        raise DataFileError(f"{source}: sms.footer must be 'per_reply' or 'per_message'")
    return bool(value == "per_reply")


def _third_parties(item: Any, source: str) -> ThirdPartyRule | None:
    if item is None:
        return None
    where = f"{source}: third_parties"
    if not isinstance(item, dict):
        raise DataFileError(f"{where}: expected a mapping")
    allowed = _need(item, "allowed_after", where)
    if not isinstance(allowed, list) or not all(isinstance(e, str) for e in allowed):
        raise DataFileError(f"{where}: field 'allowed_after' must be a list of contact-log events")
    return ThirdPartyRule(tuple(allowed), str(_need(item, "refusal_event", where)), _need(item, "citation", where))


def _call_recording(item: Any, source: str) -> CallRecording | None:
    if item is None:
        return None
    where = f"{source}: call_recording"
    if not isinstance(item, dict):
        raise DataFileError(f"{where}: expected a mapping")
    days = _need(item, "retention_days", where)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise DataFileError(f"{where}: field 'retention_days' must be a positive number of days")
    return CallRecording(bool(item.get("required", True)), days, _need(item, "citation", where))


@cache
def profile_for(jurisdiction: str) -> Profile:
    """The profile for "US-MA" (its own file when there is one, else "US"), "UK" or "CN".

    Raises DataFileError for a bad file or an unknown jurisdiction.
    """
    candidates = [jurisdiction, jurisdiction.split("-")[0]]
    for name in candidates:
        if (DATA / f"{name.lower()}.yml").exists():
            return parse_profile(_raw(name), f"data/compliance/{name.lower()}.yml")
    raise DataFileError(f"no compliance profile for jurisdiction '{jurisdiction}'")


def all_profiles() -> list[Profile]:
    """Every profile file under data/compliance, validated (used at start-up and in tests)."""
    return [profile_for(p.stem.upper()) for p in sorted(DATA.glob("*.yml"))]
