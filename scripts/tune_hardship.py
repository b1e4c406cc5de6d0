"""Choose the hardship classifier's settings (``data/hardship/settings.yml``) on the shared dev sets.

For each model setting in ``--grid`` (the :class:`bot.understanding.intents.IntentSettings` of the
two linear models), fits the classifier over the exemplar bank once, then for each
``type_probability`` and ``vulnerable_probability`` prints, per dev set (English, Chinese): hardship
type accuracy over the rows where the gold label or the prediction has a type, vulnerable precision
and recall, and the crisis flags raised (on rows labelled express_distress, and on the others).
The dev sets choose settings only; nothing in the bank comes from them.

    .venv/bin/python -m scripts.tune_hardship --grid '{"sparse_weight": [0.3, 0.5], "dense_c": [10]}'
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from typing import Any

from bot.hardship import HardshipClassifier, HardshipResult, load_exemplars, load_settings
from bot.understanding.intents import IntentSettings
from scripts.eval_nlu import Row, read_jsonl, shared_data

TYPE_PROBABILITIES = [0.25, 0.3, 0.35]
VULNERABLE_PROBABILITIES = [0.06, 0.08, 0.1, 0.12]


def measure(rows: list[Row], results: list[HardshipResult]) -> dict[str, Any]:
    """Type accuracy, vulnerable precision/recall and crisis flags for one set."""
    pairs = [(r.hardship, h.type) for r, h in zip(rows, results, strict=True) if r.hardship or h.type]
    tp = sum(h.vulnerable and bool(r.vulnerable) for r, h in zip(rows, results, strict=True))
    flagged = sum(h.vulnerable for h in results)
    gold = sum(bool(r.vulnerable) for r in rows)
    return {
        "type_accuracy": round(sum(g == p for g, p in pairs) / max(len(pairs), 1), 3),
        "vulnerable_precision": round(tp / max(flagged, 1), 3),
        "vulnerable_recall": round(tp / max(gold, 1), 3),
        "crisis_on_distress": sum(
            h.crisis for r, h in zip(rows, results, strict=True) if r.intent == "express_distress"
        ),
        "distress_rows": sum(r.intent == "express_distress" for r in rows),
        "crisis_elsewhere": sum(h.crisis for r, h in zip(rows, results, strict=True) if r.intent != "express_distress"),
    }


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--grid", default="{}", help="JSON: model setting -> list of values")
    opts = args.parse_args()
    data = shared_data()
    sets = {
        "en_dev": read_jsonl(data / "debtor_messages_dev.jsonl"),
        "zh_dev": read_jsonl(data / "debtor_messages_zh_dev.jsonl"),
    }
    base = load_settings()
    exemplars = load_exemplars()
    grid = json.loads(opts.grid)
    for values in itertools.product(*grid.values()) if grid else [()]:
        chosen = dict(zip(grid.keys(), values, strict=True))
        model = dataclasses.replace(base.model, **chosen) if chosen else base.model
        fitted = HardshipClassifier.build(exemplars, dataclasses.replace(base, model=model))
        for tp, vp in itertools.product(TYPE_PROBABILITIES, VULNERABLE_PROBABILITIES):
            fitted.settings = dataclasses.replace(fitted.settings, type_probability=tp, vulnerable_probability=vp)
            report: dict[str, Any] = {"model": _short(model), "type_probability": tp, "vulnerable_probability": vp}
            for name, rows in sets.items():
                report[name] = measure(rows, [fitted.classify(r.text) for r in rows])
            print(json.dumps(report), flush=True)


def _short(model: IntentSettings) -> dict[str, Any]:
    return {k: getattr(model, k) for k in ("dense_c", "sparse_c", "sparse_weight")}


if __name__ == "__main__":
    main()
