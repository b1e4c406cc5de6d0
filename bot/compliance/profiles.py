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


@dataclass(frozen=True)
class ContactWindow:
    """Allowed local contact hours [start, end) in the debtor's time zone(s)."""

    start: time
    end: time
    citation: str


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
    ``until_event`` or for ``days`` when given, else indefinitely."""

    id: str
    event: str
    scope: str
    citation: str
    until_event: str | None = None
    days: int | None = None


@dataclass(frozen=True)
class WordingRule:
    """Wording a message must never contain."""

    id: str
    pattern: re.Pattern[str]
    citation: str


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
    first_disclosure: str
    subsequent_disclosure: str
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
            FrequencyCap(_need(item, "id", where), channels, counts, maximum, days, _need(item, "citation", where), per)
        )
    holds = []
    for item in raw.get("holds") or []:
        where = f"{source}: holds[{item.get('id', '?')}]"
        scope = _need(item, "scope", where)
        if scope not in ("channel", "all"):
            raise DataFileError(f"{where}: field 'scope' must be 'channel' or 'all'")
        holds.append(
            Hold(
                _need(item, "id", where),
                _need(item, "event", where),
                scope,
                _need(item, "citation", where),
                item.get("until_event"),
                item.get("days"),
            )
        )
    wording = []
    for item in raw.get("prohibited_wording") or []:
        where = f"{source}: prohibited_wording[{item.get('id', '?')}]"
        try:
            pattern = re.compile(_need(item, "pattern", where), re.I)
        except re.error as exc:
            raise DataFileError(f"{where}: field 'pattern' is not a valid regular expression: {exc}") from exc
        wording.append(WordingRule(_need(item, "id", where), pattern, _need(item, "citation", where)))
    sms = _need(raw, "sms", source)
    disclosures = _need(raw, "disclosures", source)
    return Profile(
        third_parties=_third_parties(raw.get("third_parties"), source),
        call_recording=_call_recording(raw.get("call_recording"), source),
        jurisdiction=_need(raw, "jurisdiction", source),
        contact_window=ContactWindow(
            _time(_need(window, "start", f"{source}: contact_window"), f"{source}: contact_window.start"),
            _time(_need(window, "end", f"{source}: contact_window"), f"{source}: contact_window.end"),
            _need(window, "citation", f"{source}: contact_window"),
        ),
        frequency_caps=tuple(caps),
        holds=tuple(holds),
        prohibited_wording=tuple(wording),
        sms_opt_out_footer=_footers(_need(sms, "opt_out_footer", f"{source}: sms"), source)["en"],
        sms_opt_out_footers=_footers(sms["opt_out_footer"], source),
        sms_max_segments=int(_need(sms, "max_segments", f"{source}: sms")),
        first_disclosure=_need(disclosures, "first", f"{source}: disclosures"),
        subsequent_disclosure=_need(disclosures, "subsequent", f"{source}: disclosures"),
    )


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
