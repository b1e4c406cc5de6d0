"""Choose the FallbackClassifier threshold from held-out data, not by guessing.

Parses ``tests/nlu/held_out.yml`` (never trained on) with the trained model, then for each
threshold counts what would be accepted rightly, accepted wrongly and sent to fallback. A wrong
intent costs ``WRONG_COST`` times a fallback ("sorry, say it another way"): acting on a
misunderstanding is worse than asking again.

    .venv/bin/python -m scripts.tune_fallback      # prints the table and the best threshold
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts.services import ROOT

HELD_OUT = ROOT / "tests" / "nlu" / "held_out.yml"
WRONG_COST = 2.0
THRESHOLDS = [round(0.10 + 0.05 * i, 2) for i in range(17)]  # 0.10 … 0.90


@dataclass(frozen=True)
class Prediction:
    """One held-out example: the true intent and the model's top intent before fallback."""

    text: str
    truth: str
    predicted: str
    confidence: float


def held_out_examples(path: Path = HELD_OUT) -> list[tuple[str, str]]:
    """(text, intent) pairs from a Rasa NLU YAML file."""
    raw = yaml.safe_load(path.read_text())
    pairs = []
    for block in raw["nlu"]:
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((line[2:].strip(), block["intent"]))
    return pairs


def raw_top(parse: dict[str, Any]) -> tuple[str, float]:
    """The classifier's own top intent, looking past nlu_fallback."""
    for item in parse.get("intent_ranking") or []:
        if item["name"] != "nlu_fallback":
            return item["name"], float(item["confidence"])
    intent = parse.get("intent") or {}
    return intent.get("name") or "", float(intent.get("confidence") or 0.0)


def predict(model: Path, examples: list[tuple[str, str]]) -> list[Prediction]:
    """Parse every example with the trained model (in-process Rasa agent)."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def run() -> list[Prediction]:
        out = []
        for text, truth in examples:
            parse = await agent.parse_message(text)
            name, conf = raw_top(parse)
            out.append(Prediction(text, truth, name, conf))
        return out

    return asyncio.run(run())


def sweep(predictions: list[Prediction]) -> list[dict[str, float]]:
    """Per threshold: share accepted correctly, accepted wrongly, sent to fallback, and the score."""
    n = len(predictions)
    rows = []
    for t in THRESHOLDS:
        right = sum(p.confidence >= t and p.predicted == p.truth for p in predictions)
        wrong = sum(p.confidence >= t and p.predicted != p.truth for p in predictions)
        rows.append(
            {
                "threshold": t,
                "accepted_right": round(right / n, 3),
                "accepted_wrong": round(wrong / n, 3),
                "fallback": round((n - right - wrong) / n, 3),
                "score": round((right - WRONG_COST * wrong) / n, 4),
            }
        )
    return rows


def best(rows: list[dict[str, float]]) -> dict[str, float]:
    """The row with the highest score (lowest threshold among ties)."""
    return max(rows, key=lambda r: (r["score"], -r["threshold"]))


def main() -> None:
    from scripts.train import ensure_model

    predictions = predict(ensure_model(), held_out_examples())
    rows = sweep(predictions)
    print(f"{'threshold':>9} {'right':>7} {'wrong':>7} {'fallback':>8} {'score':>7}")
    for r in rows:
        print(
            f"{r['threshold']:>9.2f} {r['accepted_right']:>7.3f} {r['accepted_wrong']:>7.3f} {r['fallback']:>8.3f} {r['score']:>7.3f}"
        )
    chosen = best(rows)
    accuracy = sum(p.predicted == p.truth for p in predictions) / len(predictions)
    print(f"held-out intent accuracy (no fallback): {accuracy:.3f} on {len(predictions)} examples")
    print(f"best threshold: {chosen['threshold']} (score {chosen['score']})")
    out = ROOT / "reports" / "fallback_tuning.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "best": chosen, "accuracy": accuracy, "wrong_cost": WRONG_COST}, indent=2))
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
