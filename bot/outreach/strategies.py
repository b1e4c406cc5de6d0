"""Collection strategies (``data/strategies/*.yml``): what a segment gets.

A strategy sets the tone of the bot's opening (which response variations: soft, neutral, firm),
the creditor offer policy by name (``data/offers/<name>.yml``), the channel order, the cadence
(days between outreach attempts, attempts per 7 days), PTP reminder lead days, and whether the
bot or a collector makes first contact. Strategies are tried by ``priority`` (lowest first); the
first whose ``match`` fits the segment wins, and one strategy must match everything (empty
``match``). A bad file fails at load with a DataFileError naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.accounts import DPD_BUCKETS
from bot.repayment.plans import load_policy
from bot.settings import DATA as DATA_DIR
from bot.settings import DataFileError

DATA = DATA_DIR / "strategies"
TONES = ("soft", "neutral", "firm")
OUTREACH_CHANNELS = ("sms", "voice", "email")
FIRST_CONTACT = ("bot", "collector")
# segment dimensions a strategy may match on, and their allowed values (bot/outreach/segments.py)
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "dpd_bucket": DPD_BUCKETS,
    "balance_band": ("low", "medium", "high"),
    "history": ("good", "mixed", "poor"),
    "broken_promises": ("none", "some"),
    "hardship": ("none", "flagged"),
}


@dataclass(frozen=True)
class Strategy:
    """One strategy. ``match`` maps a dimension of :data:`DIMENSIONS` to the values it accepts;
    ``every_days`` is the least number of days between two outreach attempts to an account,
    ``max_per_7_days`` the most attempts in any 7 days (both on top of the jurisdiction's caps);
    ``reminder_days`` how many days before a PTP due date the reminder goes out."""

    name: str
    priority: int
    match: dict[str, tuple[str, ...]]
    tone: str
    offer_policy: str
    channels: tuple[str, ...]
    every_days: int
    max_per_7_days: int
    reminder_days: int
    first_contact: str
    source: str

    def fits(self, segment: dict[str, str]) -> bool:
        """Whether ``segment`` (dimension -> value) satisfies every condition of ``match``."""
        return all(segment.get(dim) in values for dim, values in self.match.items())


def _need(raw: dict[str, Any], field: str, where: str) -> Any:
    if field not in raw or raw[field] in (None, ""):
        raise DataFileError(f"{where}: missing field '{field}'")
    return raw[field]


def _positive_int(raw: dict[str, Any], field: str, where: str, minimum: int = 1, prefix: str = "") -> int:
    if field not in raw or raw[field] in (None, ""):
        raise DataFileError(f"{where}: missing field '{prefix}{field}'")
    value = raw[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise DataFileError(f"{where}: field '{prefix}{field}' must be an integer >= {minimum}")
    return value


def parse_strategy(raw: Any, where: str) -> Strategy:
    """Validate one strategy mapping; DataFileError names ``where`` and the field."""
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: expected a mapping")
    match_raw = raw.get("match") or {}
    if not isinstance(match_raw, dict):
        raise DataFileError(f"{where}: field 'match' must be a mapping of dimension to values")
    match: dict[str, tuple[str, ...]] = {}
    for dim, values in match_raw.items():
        if dim not in DIMENSIONS:
            raise DataFileError(f"{where}: field 'match.{dim}' is not a segment dimension ({', '.join(DIMENSIONS)})")
        values = values if isinstance(values, list) else [values]
        if bad := [v for v in values if str(v) not in DIMENSIONS[dim]]:
            raise DataFileError(f"{where}: field 'match.{dim}' has unknown value(s) {bad}")
        match[dim] = tuple(str(v) for v in values)
    tone = _need(raw, "tone", where)
    if tone not in TONES:
        raise DataFileError(f"{where}: field 'tone' must be one of {', '.join(TONES)}")
    offer = str(_need(raw, "offer_policy", where))
    try:
        load_policy(offer)
    except DataFileError as exc:
        raise DataFileError(f"{where}: field 'offer_policy': {exc}") from exc
    channels = _need(raw, "channels", where)
    if not isinstance(channels, list) or not channels or any(c not in OUTREACH_CHANNELS for c in channels):
        raise DataFileError(f"{where}: field 'channels' must list some of {', '.join(OUTREACH_CHANNELS)}")
    cadence = _need(raw, "cadence", where)
    if not isinstance(cadence, dict):
        raise DataFileError(f"{where}: field 'cadence' must be a mapping")
    first = _need(raw, "first_contact", where)
    if first not in FIRST_CONTACT:
        raise DataFileError(f"{where}: field 'first_contact' must be 'bot' or 'collector'")
    return Strategy(
        name=str(_need(raw, "strategy", where)),
        priority=_positive_int(raw, "priority", where, minimum=0),
        match=match,
        tone=tone,
        offer_policy=offer,
        channels=tuple(channels),
        every_days=_positive_int(cadence, "every_days", where, prefix="cadence."),
        max_per_7_days=_positive_int(cadence, "max_per_7_days", where, prefix="cadence."),
        reminder_days=_positive_int(cadence, "reminder_days", where, minimum=0, prefix="cadence."),
        first_contact=first,
        source=where,
    )


def load_strategies(directory: Path = DATA) -> tuple[Strategy, ...]:
    """Every strategy file in ``directory``, ordered by priority.

    Raises DataFileError for a bad file, two strategies with one name or priority, or when no
    strategy matches every segment (one needs an empty ``match``)."""
    out: list[Strategy] = []
    for path in sorted(directory.glob("*.yml")):
        where = f"data/strategies/{path.name}"
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise DataFileError(f"{where}: not valid YAML: {exc}") from exc
        out.append(parse_strategy(raw, where))
    for attr in ("name", "priority"):
        seen: dict[Any, str] = {}
        for s in out:
            if getattr(s, attr) in seen:
                raise DataFileError(f"{s.source}: field '{attr}' repeats {seen[getattr(s, attr)]}")
            seen[getattr(s, attr)] = s.source
    out.sort(key=lambda s: s.priority)
    if not any(not s.match for s in out):
        raise DataFileError(f"{directory.name}: no strategy with an empty 'match' to catch every segment")
    return tuple(out)


@cache
def strategies() -> tuple[Strategy, ...]:
    """The project's strategies (cached; checked at start-up of the outreach command)."""
    return load_strategies()


def strategy_for(segment: dict[str, str], available: tuple[Strategy, ...] | None = None) -> Strategy:
    """The first strategy by priority that fits ``segment``."""
    for strategy in available or strategies():
        if strategy.fits(segment):
            return strategy
    raise DataFileError("no strategy matches the segment")  # load_strategies prevents this
