"""Hardship and vulnerability from a debtor's message, learnt from a labelled exemplar bank.

The bank (``data/hardship/*.yml`` but settings.yml: English and Chinese messages written for this
project, every one labelled, those with no hardship being the negatives) trains two linear models
over the sentence embedding and character/word n-grams (:mod:`bot.understanding.intents`): the
hardship type (or none) and the vulnerability kind (or none). The nearest exemplars are returned as
the explanation. A pattern list catches crisis and self-harm language the models might miss, in
English and Chinese: a crisis must never be missed (FCA FG21/1 on vulnerable customers; CONC 7.2.1R
treat customers in default fairly).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.embeddings import ENCODER, encode, encode_one
from bot.settings import DataFileError
from bot.understanding.clauses import clauses
from bot.understanding.intents import IntentModel, IntentSettings, train

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "hardship"

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
VULNERABILITIES = (
    "mental_health",
    "serious_illness",
    "bereavement",
    "age_related",
    "difficulty_understanding",
    "domestic_abuse",
    "loss_of_home",
    "crisis",
)


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
    type_probability: float
    vulnerable_probability: float
    crisis_probability: float
    crisis_similarity: float
    crisis_margin: float
    evidence: int
    short_message_chars: int
    model: IntentSettings
    temporary_cues: tuple[str, ...]
    lasting_cues: tuple[str, ...]
    crisis_patterns: tuple[re.Pattern[str], ...]


def load_settings(path: Path = DATA / "settings.yml") -> HardshipSettings:
    """Parse the settings; raises DataFileError naming the field."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
            type_probability=float(raw["type_probability"]),
            vulnerable_probability=float(raw["vulnerable_probability"]),
            crisis_probability=float(raw["crisis_probability"]),
            crisis_similarity=float(raw["crisis_similarity"]),
            crisis_margin=float(raw["crisis_margin"]),
            evidence=int(raw["evidence"]),
            short_message_chars=int(raw.get("short_message_chars", 0)),
            model=IntentSettings.from_config({**raw["model"], "calibration_folds": 0}),
            temporary_cues=tuple(cues["temporary"]),
            lasting_cues=tuple(cues["lasting"]),
            crisis_patterns=tuple(patterns),
        )
    except KeyError as exc:
        raise DataFileError(f"{path.name}: missing field '{exc.args[0]}'") from exc


def bank_files(folder: Path = DATA) -> list[Path]:
    """The exemplar files of the bank: every YAML file in ``folder`` except ``settings.yml``."""
    return sorted(p for p in folder.glob("*.yml") if p.name != "settings.yml")


def load_exemplars(path: Path | None = None) -> list[Exemplar]:
    """Parse and validate the exemplar bank (``path``, or every file of :func:`bank_files`);
    raises DataFileError naming the file, the entry and the field."""
    if path is None:
        out = [e for p in bank_files() for e in load_exemplars(p)]
        if not out:
            raise DataFileError(f"{DATA.name}: no exemplars")
        return out
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
    """Linear models over the exemplar bank, nearest exemplars as the explanation.

    ``classify(text)`` → :class:`HardshipResult`. Thread-safe after construction. Build it with
    :meth:`build` (cached on disk under ``.cache/hardship``) or from stored arrays.
    """

    def __init__(
        self,
        exemplars: list[Exemplar],
        settings: HardshipSettings,
        matrix: np.ndarray[Any, Any],
        type_model: IntentModel,
        vulnerability_model: IntentModel,
    ) -> None:
        self.exemplars = exemplars
        self.settings = settings
        self.matrix = matrix
        self.type_model = type_model
        self.vulnerability_model = vulnerability_model
        self._crisis = np.array([e.vulnerability == "crisis" for e in exemplars])

    @classmethod
    def fit(cls, exemplars: list[Exemplar], settings: HardshipSettings) -> HardshipClassifier:
        """Embed the bank and fit the type and vulnerability models."""
        texts = [e.text for e in exemplars]
        matrix = encode(texts)
        type_model = train(texts, matrix, [e.type for e in exemplars], settings.model)
        vulnerability_model = train(
            texts,
            matrix,
            [e.vulnerability if e.vulnerable and e.vulnerability else "none" for e in exemplars],
            settings.model,
        )
        return cls(exemplars, settings, matrix, type_model, vulnerability_model)

    @classmethod
    def build(
        cls, exemplars: list[Exemplar], settings: HardshipSettings, cache: Path | None = CACHE
    ) -> HardshipClassifier:
        """:meth:`fit`, or the arrays a previous fit of the same bank, settings and encoder stored in ``cache``."""
        key = hashlib.sha256(
            json.dumps(
                [ENCODER, repr(settings.model), [asdict(e) for e in exemplars], _code_version()], ensure_ascii=False
            ).encode()
        ).hexdigest()[:16]
        path = None if cache is None else cache / f"{key}.npz"
        if path is not None and path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    return cls.from_arrays(exemplars, settings, {k: data[k] for k in data.files})
            except (OSError, ValueError, KeyError):
                pass
        classifier = cls.fit(exemplars, settings)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp.npz")
            np.savez_compressed(partial, **classifier.to_arrays())
            partial.replace(path)
        return classifier

    def to_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """Everything fitted, as named arrays (JSON metadata as a byte array): see :meth:`from_arrays`."""
        out: dict[str, np.ndarray[Any, Any]] = {"matrix": self.matrix}
        for name, model in (("type", self.type_model), ("vulnerability", self.vulnerability_model)):
            meta, arrays = model.to_arrays()
            out[f"{name}.meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
            out.update({f"{name}.{k}": v for k, v in arrays.items()})
        return out

    @classmethod
    def from_arrays(
        cls, exemplars: list[Exemplar], settings: HardshipSettings, arrays: dict[str, np.ndarray[Any, Any]]
    ) -> HardshipClassifier:
        """The classifier stored by :meth:`to_arrays` for the same ``exemplars``."""
        models = []
        for name in ("type", "vulnerability"):
            meta = json.loads(bytes(arrays[f"{name}.meta"]).decode())
            parts = {
                k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{name}.") and k != f"{name}.meta"
            }
            models.append(IntentModel.from_arrays(meta, parts))
        matrix = arrays["matrix"]
        if len(matrix) != len(exemplars):
            raise ValueError("stored hardship arrays do not match the exemplar bank")
        return cls(exemplars, settings, matrix, models[0], models[1])

    def classify(self, text: str, exclude: int | None = None) -> HardshipResult:
        """Classify one message. ``exclude`` leaves one exemplar out of the neighbours and the
        evidence (the linear models were fitted with it: an optimistic leave-one-out)."""
        s = self.settings
        vector = self.matrix[exclude] if exclude is not None else encode_one(text)
        sims = self.matrix @ vector
        if exclude is not None:
            sims = sims.copy()
            sims[exclude] = -1.0
        k = min(max(s.neighbours, s.evidence), len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        order = nearest[np.argsort(-sims[nearest])]
        top = [(self.exemplars[i], float(sims[i])) for i in order]

        type_probs = self.type_model.predict([text], vector.reshape(1, -1))[0]
        hardship_type, confidence = self._type(type_probs)
        # whole sentences: a Chinese comma clause ("这个月", "我老公住院了") is too thin for a type
        # (with them the Chinese dev set flags two more messages wrongly: 0.80 -> 0.78)
        parts = clauses(text, han_commas=False) if exclude is None else []
        if parts:
            # a hardship told in passing in a long message: the sentence likeliest to tell one
            # decides when it does (English dev set type accuracy 0.80 -> 0.86; Chinese unchanged)
            by_clause = self.type_model.predict(parts, encode(parts))
            told = np.delete(by_clause, self.type_model.labels.index("none"), axis=1).max(axis=1)
            clause_type, clause_confidence = self._type(by_clause[int(np.argmax(told))])
            if clause_type:
                hardship_type, confidence = clause_type, clause_confidence

        kinds = self.vulnerability_model.labels
        vul_probs = self.vulnerability_model.predict([text], vector.reshape(1, -1))[0]
        none = kinds.index("none") if "none" in kinds else None
        p_any = 1.0 - (float(vul_probs[none]) if none is not None else 0.0)
        p_crisis = float(vul_probs[kinds.index("crisis")]) if "crisis" in kinds else 0.0

        lowered = text.lower()
        crisis = (
            any(p.search(lowered) for p in s.crisis_patterns)
            or p_crisis >= s.crisis_probability
            or self._near_crisis(sims)
        )
        vulnerability = None
        if crisis:
            vulnerability = "crisis"
        elif p_any >= s.vulnerable_probability:
            ranked = [i for i in np.argsort(-vul_probs) if kinds[i] not in ("none", "crisis")]
            vulnerability = kinds[ranked[0]] if ranked else None
        evidence = tuple(Evidence(ex.text, ex.type, ex.vulnerability, round(sim, 3)) for ex, sim in top[: s.evidence])
        # a Han character carries about a word: it counts as four characters
        length = len(text.strip()) + 3 * len(re.findall(r"[\u4e00-\u9fff]", text))
        if vulnerability not in (None, "crisis") and length <= s.short_message_chars:
            # a few words ("i'd rather not say", "i dont know") carry too little for the low
            # threshold alone: a vulnerable exemplar must be among the nearest too
            vulnerability = vulnerability if any(e.vulnerability for e in evidence) else None
        return HardshipResult(
            type=hardship_type,
            confidence=confidence,
            duration=self._duration(lowered, hardship_type, top),
            vulnerable=vulnerability is not None,
            vulnerability=vulnerability,
            crisis=crisis,
            evidence=evidence,
        )

    def _type(self, probs: np.ndarray[Any, Any]) -> tuple[str | None, float]:
        """(hardship type or None, confidence) from the type model's probabilities: the likeliest
        type, when it is the likeliest label or at least ``type_probability`` beside "none"."""
        labels = self.type_model.labels
        best = max((i for i, label in enumerate(labels) if label != "none"), key=lambda i: probs[i])
        told = labels[int(np.argmax(probs))] != "none" or probs[best] >= self.settings.type_probability
        return (labels[best] if told else None), round(float(probs[best] if told else probs.max()), 3)

    def _near_crisis(self, sims: np.ndarray[Any, Any]) -> bool:
        """A crisis exemplar at least ``crisis_similarity`` close and ``crisis_margin`` closer than
        every other exemplar: the model weighs a few dozen crisis exemplars against thousands of
        others, the nearest one does not."""
        if not self._crisis.any() or self._crisis.all():
            return False
        nearest_crisis = float(sims[self._crisis].max())
        nearest_other = float(sims[~self._crisis].max())
        s = self.settings
        return nearest_crisis >= s.crisis_similarity and nearest_crisis >= nearest_other + s.crisis_margin

    def _duration(self, lowered: str, hardship_type: str | None, top: list[tuple[Exemplar, float]]) -> str:
        if hardship_type is None:
            return "unknown"
        if any(c in lowered for c in self.settings.lasting_cues):
            return "lasting"
        if any(c in lowered for c in self.settings.temporary_cues):
            return "temporary"
        labels = [
            ex.duration
            for ex, sim in top[: self.settings.neighbours]
            if ex.type == hardship_type and sim >= self.settings.min_similarity and ex.duration != "unknown"
        ]
        return max(set(labels), key=labels.count) if labels else "unknown"


def _code_version() -> str:
    """A digest of the modules whose code shapes a fitted classifier (part of the cache key)."""
    digest = hashlib.sha256()
    for module in (Path(__file__), Path(__file__).parent / "understanding" / "intents.py"):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def default_classifier() -> HardshipClassifier:
    """The classifier over the project's exemplar bank and settings (built once per process; the
    fitted arrays are cached on disk, see :meth:`HardshipClassifier.build`)."""
    return HardshipClassifier.build(load_exemplars(), load_settings())
