"""Hardship and vulnerability from a debtor's message, by nearest labelled exemplars.

The exemplar bank (``data/hardship/exemplars.yml``) is data written for this project; the
nearest exemplars are returned as the explanation. A pattern list catches crisis and self-harm
language the embeddings might miss: a crisis must never be missed (FCA FG21/1 on vulnerable
customers; CONC 7.2.1R treat customers in default fairly).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.embeddings import encode, encode_one
from bot.settings import DataFileError

DATA = Path(__file__).resolve().parent.parent / "data" / "hardship"
HARDSHIP_TYPES = (
    "job_loss",
    "reduced_income",
    "medical",
    "bereavement",
    "relationship_breakdown",
    "disaster",
    "military",
    "other",
)
DURATIONS = ("temporary", "lasting", "unknown")
VULNERABILITIES = ("mental_health", "serious_illness", "bereavement", "difficulty_understanding", "crisis")


@dataclass(frozen=True)
class Exemplar:
    """One labelled example message; ``type`` is a hardship type or "none"."""

    text: str
    type: str
    duration: str
    vulnerable: bool
    vulnerability: str | None


@dataclass(frozen=True)
class Evidence:
    """A nearest exemplar and its cosine similarity to the message."""

    text: str
    type: str
    vulnerability: str | None
    similarity: float


@dataclass(frozen=True)
class HardshipResult:
    """Hardship read from one message.

    ``type`` is a hardship type (DESIGN §5) or None; ``confidence`` in [0, 1]; ``duration`` one of
    temporary/lasting/unknown; ``crisis`` means self-harm or suicide risk: hand to a person now.
    """

    type: str | None
    confidence: float
    duration: str
    vulnerable: bool
    vulnerability: str | None
    crisis: bool
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the NLU parse result."""
        out = asdict(self)
        out["evidence"] = [asdict(e) for e in self.evidence]
        return out


@dataclass(frozen=True)
class HardshipSettings:
    """Thresholds and cues from ``data/hardship/settings.yml``."""

    neighbours: int
    min_similarity: float
    vulnerability_similarity: float
    vulnerability_margin: float
    crisis_similarity: float
    crisis_margin: float
    evidence: int
    temporary_cues: tuple[str, ...]
    lasting_cues: tuple[str, ...]
    crisis_patterns: tuple[re.Pattern[str], ...]


def load_settings(path: Path = DATA / "settings.yml") -> HardshipSettings:
    """Parse the settings; raises DataFileError naming the field."""
    raw = yaml.safe_load(path.read_text())
    try:
        cues = raw["duration_cues"]
        patterns = []
        for i, p in enumerate(raw["crisis_patterns"]):
            try:
                patterns.append(re.compile(p, re.I))
            except re.error as exc:
                raise DataFileError(f"{path.name}: crisis_patterns[{i}] is not a valid pattern: {exc}") from exc
        return HardshipSettings(
            neighbours=int(raw["neighbours"]),
            min_similarity=float(raw["min_similarity"]),
            vulnerability_similarity=float(raw["vulnerability_similarity"]),
            vulnerability_margin=float(raw["vulnerability_margin"]),
            crisis_similarity=float(raw["crisis_similarity"]),
            crisis_margin=float(raw["crisis_margin"]),
            evidence=int(raw["evidence"]),
            temporary_cues=tuple(cues["temporary"]),
            lasting_cues=tuple(cues["lasting"]),
            crisis_patterns=tuple(patterns),
        )
    except KeyError as exc:
        raise DataFileError(f"{path.name}: missing field '{exc.args[0]}'") from exc


def load_exemplars(path: Path = DATA / "exemplars.yml") -> list[Exemplar]:
    """Parse and validate the exemplar bank; raises DataFileError naming the entry and field."""
    raw = yaml.safe_load(path.read_text())
    out = []
    for i, item in enumerate(raw.get("exemplars") or []):
        where = f"{path.name}: exemplars[{i}]"
        try:
            ex = Exemplar(
                str(item["text"]), item["type"], item["duration"], bool(item["vulnerable"]), item.get("vulnerability")
            )
        except KeyError as exc:
            raise DataFileError(f"{where}: missing field '{exc.args[0]}'") from exc
        if ex.type not in (*HARDSHIP_TYPES, "none"):
            raise DataFileError(f"{where}: type '{ex.type}' is not one of {', '.join(HARDSHIP_TYPES)}, none")
        if ex.duration not in DURATIONS:
            raise DataFileError(f"{where}: duration '{ex.duration}' is not one of {', '.join(DURATIONS)}")
        if ex.vulnerability is not None and ex.vulnerability not in VULNERABILITIES:
            raise DataFileError(
                f"{where}: vulnerability '{ex.vulnerability}' is not one of {', '.join(VULNERABILITIES)}"
            )
        out.append(ex)
    if not out:
        raise DataFileError(f"{path.name}: no exemplars")
    return out


class HardshipClassifier:
    """k-nearest-exemplar classifier over sentence embeddings.

    ``classify(text)`` → :class:`HardshipResult`. Thread-safe after construction.
    """

    def __init__(self, exemplars: list[Exemplar], settings: HardshipSettings) -> None:
        self.exemplars = exemplars
        self.settings = settings
        self.matrix = encode([e.text for e in exemplars])
        # per hardship type, the exemplars that carry no vulnerability: what the hardship alone sounds like
        self._plain = np.array([not e.vulnerable for e in exemplars])
        self._plain_of_type = {
            t: np.array([not e.vulnerable and e.type == t for e in exemplars]) for t in {e.type for e in exemplars}
        }

    def classify(self, text: str, exclude: int | None = None) -> HardshipResult:
        """Classify one message. ``exclude`` leaves one exemplar out (for leave-one-out evaluation)."""
        s = self.settings
        sims = self.matrix @ encode_one(text)
        if exclude is not None:
            sims = sims.copy()
            sims[exclude] = -1.0
        order = np.argsort(-sims)[: max(s.neighbours, s.evidence)]
        top = [(self.exemplars[i], float(sims[i])) for i in order]
        votes: dict[str, float] = defaultdict(float)
        for ex, sim in top[: s.neighbours]:
            if sim >= s.min_similarity:
                votes[ex.type] += sim
        total = sum(votes.values())
        winner = max(votes, key=lambda k: votes[k]) if votes else "none"
        hardship_type = None if winner == "none" else winner
        confidence = round(votes[winner] / total, 3) if total else 0.0

        lowered = text.lower()
        crisis_sims = [sim for ex, sim in top if ex.vulnerability == "crisis"]
        other_sims = [sim for ex, sim in top if ex.vulnerability != "crisis"]
        nearest_crisis = max(crisis_sims, default=-1.0)
        crisis = any(p.search(lowered) for p in s.crisis_patterns) or (
            nearest_crisis >= s.crisis_similarity and nearest_crisis >= max(other_sims, default=-1.0) + s.crisis_margin
        )
        vulnerability = "crisis" if crisis else None
        if vulnerability is None:
            vulnerability = self._vulnerability(sims, order[:3])
        evidence = tuple(Evidence(ex.text, ex.type, ex.vulnerability, round(sim, 3)) for ex, sim in top[: s.evidence])
        return HardshipResult(
            type=hardship_type,
            confidence=confidence,
            duration=self._duration(lowered, hardship_type, top),
            vulnerable=vulnerability is not None,
            vulnerability=vulnerability,
            crisis=crisis,
            evidence=evidence,
        )

    def _vulnerability(self, sims: np.ndarray[Any, Any], nearest: np.ndarray[Any, Any]) -> str | None:
        """The vulnerability (not crisis) the message itself gives evidence of, or None.

        The nearest vulnerable exemplar among ``nearest`` (indices, closest first) decides: it must
        be at least ``vulnerability_similarity`` close and at least ``vulnerability_margin`` closer
        than every non-vulnerable exemplar in the bank, including those of its own hardship type
        (which need not be among the nearest). A vulnerable exemplar mixes a
        hardship with a vulnerability ("since i lost my job ive been really depressed"); being near
        it only because of the shared hardship ("I lost my job") is no evidence of vulnerability
        (FCA FG21/1: identify vulnerability from what the customer says, not assume it).
        """
        s = self.settings
        for i in nearest:
            ex, sim = self.exemplars[i], float(sims[i])
            if not ex.vulnerable or ex.vulnerability == "crisis" or sim < s.vulnerability_similarity:
                continue
            same_type = self._plain_of_type.get(ex.type)
            plain = float(sims[self._plain].max()) if self._plain.any() else -1.0
            if same_type is not None and same_type.any():
                plain = max(plain, float(sims[same_type].max()))
            return ex.vulnerability if sim >= plain + s.vulnerability_margin else None
        return None

    def _duration(self, lowered: str, hardship_type: str | None, top: list[tuple[Exemplar, float]]) -> str:
        if hardship_type is None:
            return "unknown"
        if any(c in lowered for c in self.settings.lasting_cues):
            return "lasting"
        if any(c in lowered for c in self.settings.temporary_cues):
            return "temporary"
        labels = [ex.duration for ex, sim in top if ex.type == hardship_type and sim >= self.settings.min_similarity]
        return max(set(labels), key=labels.count) if labels else "unknown"


@lru_cache(maxsize=1)
def default_classifier() -> HardshipClassifier:
    """The classifier over the project's exemplar bank and settings (built once per process)."""
    return HardshipClassifier(load_exemplars(), load_settings())
