"""Safety: crisis and self-harm language, the helpline that answers it, and its record.

One rule for the whole project, whoever meets the message (the dialogue policy, the crisis
action, a conversation waiting for a person, an opted-out number): :class:`CrisisRule`, set in
SafetyPolicy's entry in ``config.yml``. Someone in crisis gets a helpline at once
(``data/helplines.yml``) and a person at top priority; every crisis is written to the contact log
(which holds collection contact, ``data/compliance``) and to the audit log (FCA FG21/1 on
vulnerable customers; CONC 7.2.1R).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.settings import ROOT, helplines

CONFIG = ROOT / "config.yml"
POLICY_NAME = "policies.safety_policy.SafetyPolicy"
CRISIS_EVENT = "handoff_crisis"  # contact-log event and audit action of a crisis


@dataclass(frozen=True)
class CrisisRule:
    """When a parse result counts as crisis language: ``intent`` on top or in the intent ranking
    with a confidence of at least ``ranking_threshold`` (0..1), or the hardship crisis flag."""

    intent: str
    ranking_threshold: float

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str = "config.yml") -> CrisisRule:
        """From SafetyPolicy's config (keys ``crisis_intent``, ``crisis_ranking_threshold``).
        Raises ValueError naming ``source`` and the key when one is missing or out of range."""
        for key in ("crisis_intent", "crisis_ranking_threshold"):
            if key not in config:
                raise ValueError(f"{source}: SafetyPolicy needs '{key}'")
        intent, threshold = config["crisis_intent"], config["crisis_ranking_threshold"]
        if not isinstance(intent, str) or not intent:
            raise ValueError(f"{source}: SafetyPolicy 'crisis_intent' must be an intent name")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise ValueError(f"{source}: SafetyPolicy 'crisis_ranking_threshold' must be a number from 0 to 1")
        return cls(intent, float(threshold))

    def matches(self, parse_data: dict[str, Any]) -> bool:
        """Whether a Rasa parse result (``intent``, ``intent_ranking``, ``hardship``) shows crisis."""
        return is_crisis(parse_data, self.intent, self.ranking_threshold)


@cache
def crisis_rule(config_path: Path = CONFIG) -> CrisisRule:
    """The crisis rule from SafetyPolicy's entry in ``config.yml``, for code outside the policy
    (the handoff channel while a conversation waits for a person). Raises ValueError naming the
    file when the entry or a key is missing."""
    raw = yaml.safe_load(config_path.read_text()) or {}
    entry = next((p for p in raw.get("policies") or [] if p.get("name") == POLICY_NAME), None)
    if entry is None:
        raise ValueError(f"{config_path}: no '{POLICY_NAME}' under policies")
    return CrisisRule.from_config(entry, str(config_path))


def is_crisis(parse_data: dict[str, Any], intent_name: str, threshold: float) -> bool:
    """Whether a parse result shows crisis: ``intent_name`` on top, or in the ranking with a
    confidence of at least ``threshold``, or the hardship classifier's crisis flag."""
    hardship = parse_data.get("hardship") or {}
    if hardship.get("crisis"):
        return True
    ranking = parse_data.get("intent_ranking") or []
    top = (parse_data.get("intent") or {}).get("name")
    if top == intent_name:
        return True
    return any(r.get("name") == intent_name and (r.get("confidence") or 0) >= threshold for r in ranking)


@dataclass(frozen=True)
class Helpline:
    """The crisis helpline for a jurisdiction (``line``) and the emergency-number line."""

    line: str
    emergency: str

    @property
    def text(self) -> str:
        """Both lines as one message part."""
        return f"{self.line} {self.emergency}"


def helpline_for(jurisdiction: str | None, language: str | None = None) -> Helpline:
    """The helpline of a jurisdiction code such as "US-MA" (by its prefix), else the default one
    (``data/helplines.yml``), in ``language`` (ISO 639-1, e.g. "zh" from the sender context) when
    the file has that text ("CN.zh"), else in English."""
    lines = helplines()
    region = (jurisdiction or "").split("-")[0]
    lang = (language or "en").split("-")[0].split("_")[0].lower()

    def text(key: str) -> str:
        return lines.get(f"{key}.{lang}") or lines[key]

    return Helpline(text(region if region in lines else "default"), text("emergency"))


def record_crisis(
    session: Session,
    *,
    account_id: str | None,
    channel: str,
    conversation_id: str,
    detail: str,
    actor: str = "bot",
) -> None:
    """Write a crisis to the contact log (event :data:`CRISIS_EVENT`, which the contact gate
    reads as a crisis hold) and to the audit log, in ``session``'s transaction."""
    db.log_contact(
        session,
        account_id=account_id,
        channel=channel,
        direction="inbound",
        event=CRISIS_EVENT,
        conversation_id=conversation_id,
        detail=detail,
    )
    audit.record(
        session,
        actor=actor,
        action=CRISIS_EVENT,
        outcome="recorded",
        reasons=["crisis_language"],
        account_id=account_id,
        detail={"channel": channel, "detail": detail},
    )
