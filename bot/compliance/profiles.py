"""Jurisdiction profiles (``data/compliance/*.yml``), validated at load time.

A profile may ``extends`` another (``US-MA`` extends ``US``): lists of rules are merged by rule
``id`` (the child adds or replaces), scalars are overridden. Every rule carries its citation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
COUNTED_EVENTS = ("call_attempt", "telephone_conversation", "sms_sent", "email_sent")


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
    """At most ``max`` events of kinds ``counts`` on ``channels`` in ``window_days`` days, per debt.
    ``max: 0`` means none at all in the window (e.g. 7 days after a telephone conversation)."""

    id: str
    channels: tuple[str, ...]
    counts: tuple[str, ...]
    max: int
    window_days: int
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
    sms_opt_out_footer: str
    sms_max_segments: int
    sms_footer_per_reply: bool  # the footer once per reply (on its last message), else on every message
    first_disclosure: str
    subsequent_disclosure: str


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
        caps.append(
            FrequencyCap(_need(item, "id", where), channels, counts, maximum, days, _need(item, "citation", where))
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
        jurisdiction=_need(raw, "jurisdiction", source),
        contact_window=ContactWindow(
            _time(_need(window, "start", f"{source}: contact_window"), f"{source}: contact_window.start"),
            _time(_need(window, "end", f"{source}: contact_window"), f"{source}: contact_window.end"),
            _need(window, "citation", f"{source}: contact_window"),
        ),
        frequency_caps=tuple(caps),
        holds=tuple(holds),
        prohibited_wording=tuple(wording),
        sms_opt_out_footer=_need(sms, "opt_out_footer", f"{source}: sms"),
        sms_max_segments=int(_need(sms, "max_segments", f"{source}: sms")),
        sms_footer_per_reply=_footer_placement(sms.get("footer", "per_message"), source),
        first_disclosure=_need(disclosures, "first", f"{source}: disclosures"),
        subsequent_disclosure=_need(disclosures, "subsequent", f"{source}: disclosures"),
    )


def _footer_placement(value: Any, source: str) -> bool:
    if value not in ("per_reply", "per_message"):
        raise DataFileError(f"{source}: sms.footer must be 'per_reply' or 'per_message'")
    return bool(value == "per_reply")


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
