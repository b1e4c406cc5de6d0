"""Choose FallbackClassifier's ``threshold`` and ``ambiguity_threshold`` and SafetyPolicy's
``crisis_ranking_threshold`` on the shared dev sets, with the trained model.

Parses the English and Chinese dev sets (never trained on) once, then replays FallbackClassifier on
the classifier's own ranking for each pair of thresholds: a message falls back when its top intent
is below ``threshold`` or less than ``ambiguity_threshold`` ahead of the second. A wrong accepted
intent costs ``--wrong-cost`` (default 3) times a question; the cost is the mean over the two sets.
Costs closer to the lowest than half of one message's question in the larger set are a tie (the sets
are small), and the tie goes to the lowest threshold (fewer questions), then to the ambiguity
threshold nearest Rasa's default 0.1.
For the crisis ranking threshold: per threshold, the crisis rows caught (labelled express_distress)
and the false alarms (other rows), as ``scripts/eval_nlu.py`` counts them.

    .venv/bin/python -m scripts.tune_dev_thresholds [--model models/model-<hash>.tar.gz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scripts.eval_nlu import FALLBACK, Row, parse_all, read_jsonl, shared_data, stdout_to_stderr

THRESHOLDS = [round(0.20 + 0.025 * i, 3) for i in range(25)]  # 0.20 … 0.80
AMBIGUITY = [0.0, 0.05, 0.1, 0.15]
CRISIS = [round(0.10 + 0.05 * i, 2) for i in range(11)]  # 0.10 … 0.60


def ranking(parse: dict[str, Any]) -> list[tuple[str, float]]:
    """The classifier's own ranking (without nlu_fallback), most likely first."""
    items = [(str(r["name"]), float(r.get("confidence") or 0.0)) for r in parse.get("intent_ranking") or []]
    return sorted((i for i in items if i[0] != FALLBACK), key=lambda i: -i[1])


def replay(rows: list[Row], parses: list[dict[str, Any]], threshold: float, ambiguity: float) -> dict[str, float]:
    """Shares accepted right, accepted wrong and sent to fallback under the given thresholds."""
    right = wrong = fallback = 0
    for row, parse in zip(rows, parses, strict=True):
        ranked = ranking(parse)
        top, conf = ranked[0] if ranked else ("", 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if conf < threshold or conf - second < ambiguity:
            fallback += 1
        elif top == row.intent:
            right += 1
        else:
            wrong += 1
    n = max(len(rows), 1)
    return {"right": round(right / n, 3), "wrong": round(wrong / n, 3), "fallback": round(fallback / n, 3)}


def crisis_sweep(rows: list[Row], parses: list[dict[str, Any]], intent: str) -> list[dict[str, Any]]:
    """Per crisis ranking threshold: crisis rows caught and false alarms."""
    from policies.safety_policy import is_crisis

    out = []
    for t in CRISIS:
        flagged = [is_crisis(p, intent, t) for p in parses]
        out.append(
            {
                "threshold": t,
                "caught": sum(f and r.intent == intent for f, r in zip(flagged, rows, strict=True)),
                "of": sum(r.intent == intent for r in rows),
                "false_alarms": sum(f and r.intent != intent for f, r in zip(flagged, rows, strict=True)),
            }
        )
    return out


def main() -> None:
    from policies.safety_policy import crisis_rule

    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path)
    args.add_argument("--wrong-cost", type=float, default=3.0)
    opts = args.parse_args()
    data = shared_data()
    sets = {
        "en_dev": read_jsonl(data / "debtor_messages_dev.jsonl"),
        "zh_dev": read_jsonl(data / "debtor_messages_zh_dev.jsonl"),
    }
    with stdout_to_stderr():
        model = opts.model
        if model is None:
            from scripts.train import ensure_model

            model = ensure_model()
        parsed, _ = parse_all(model, sets)
    rows = []
    for t in THRESHOLDS:
        for a in AMBIGUITY:
            row: dict[str, Any] = {"threshold": t, "ambiguity_threshold": a}
            for name, items in sets.items():
                row[name] = replay(items, parsed[name], t, a)
            row["cost"] = round(
                sum(opts.wrong_cost * row[n]["wrong"] + row[n]["fallback"] for n in sets) / len(sets), 4
            )
            rows.append(row)
    lowest = min(r["cost"] for r in rows)
    tolerance = 0.5 / max(len(items) for items in sets.values()) / len(sets)
    best = min(
        (r for r in rows if r["cost"] <= lowest + tolerance),
        key=lambda r: (r["threshold"], abs(r["ambiguity_threshold"] - 0.1)),
    )
    rule = crisis_rule()
    crisis = {name: crisis_sweep(items, parsed[name], rule.intent) for name, items in sets.items()}
    print(
        json.dumps(
            {
                "model": model.name,
                "wrong_cost": opts.wrong_cost,
                "lowest_cost": lowest,
                "tie_tolerance": round(tolerance, 4),
                "best": best,
                "rows": rows,
                "crisis": crisis,
            }
        )
    )


if __name__ == "__main__":
    main()
