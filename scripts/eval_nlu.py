"""Evaluate the trained NLU model on real-language and held-out messages; print one JSON object.

Sets (never trained on):

- ``en_dev``: ``<shared>/debtor_messages_dev.jsonl`` (English debtor messages, intent, hardship, vulnerable)
- ``zh_dev``: ``<shared>/debtor_messages_zh_dev.jsonl`` (Simplified Chinese, same labels)
- ``held_out``: ``tests/nlu/held_out.yml`` (intent only)

``<shared>`` is ``$SHARED_DATA`` or ``../shared/data`` beside the project root. Per set: ``n``;
``intent_accuracy`` after fallback (an ``nlu_fallback`` counts as wrong); ``top_intent_accuracy``
(the top intent other than ``nlu_fallback``); ``fallback_rate``; ``accepted_wrong_rate``;
``per_intent_f1`` (after fallback); ``hardship_type_accuracy`` over the rows where the gold label or
the prediction has a hardship type, with ``hardship_confusion`` (gold -> predicted counts of the
mismatches); ``vulnerable`` precision and recall (with false negatives and positives counted by gold
intent); ``fallback_right_top_rate`` (fallbacks whose top intent was the gold one: the clarification
question named the right act); ``intent_errors`` (gold -> final intent counts of the errors) and
``fallback_top_intents`` (gold -> top intent of the fallbacks): labels and counts only, never texts; ``crisis`` recall and false
alarms (crisis as SafetyPolicy sees it: the crisis intent on top, or in the ranking at
``crisis_ranking_threshold`` or above, or the hardship crisis flag; gold crisis rows are those
labelled with the crisis intent); ``nlu_ms_per_message`` (mean wall-clock parse time in this
process) and ``nlu_cpu_ms_per_message`` (mean CPU time of this process per parse: the figure to read
on a busy machine; run with OMP_NUM_THREADS=1 for one thread).
``extraction``: amount and date exact match on the NLU++ banking file (:mod:`scripts.eval_extraction`).

    .venv/bin/python -m scripts.eval_nlu [--model models/model-<hash>.tar.gz]     # or: make eval
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.services import ROOT

FALLBACK = "nlu_fallback"
HELD_OUT = ROOT / "tests" / "nlu" / "held_out.yml"


def shared_data() -> Path:
    """The shared evaluation data folder: ``$SHARED_DATA`` or ``<project root>/../shared/data``."""
    return Path(os.environ.get("SHARED_DATA") or ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Row:
    """One labelled message; ``hardship`` and ``vulnerable`` are None where the set does not label them."""

    text: str
    intent: str
    hardship: str | None = None
    vulnerable: bool | None = None
    labels_hardship: bool = False


def read_jsonl(path: Path) -> list[Row]:
    """Labelled rows of a debtor-messages file (the ``_meta`` line and blank lines skipped)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "_meta" in item or "text" not in item:
            continue
        rows.append(Row(item["text"], item["intent"], item.get("hardship"), bool(item.get("vulnerable")), True))
    return rows


def read_held_out(path: Path = HELD_OUT) -> list[Row]:
    """Rows of a Rasa NLU YAML file (intent labels only)."""
    from scripts.tune_fallback import held_out_examples

    return [Row(text, intent) for text, intent in held_out_examples(path)]


def top_intent(parse: dict[str, Any]) -> tuple[str, float]:
    """The classifier's own top intent, looking past nlu_fallback."""
    for item in parse.get("intent_ranking") or []:
        if item.get("name") != FALLBACK:
            return str(item["name"]), float(item.get("confidence") or 0.0)
    intent = parse.get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def f1_scores(gold: list[str], predicted: list[str]) -> dict[str, float]:
    """F1 per gold intent (predictions of other labels, such as nlu_fallback, count against recall)."""
    out = {}
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        out[label] = round(2 * tp / (2 * tp + fp + fn), 3) if tp else 0.0
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _crisis_source(parse: dict[str, Any], crisis_intent: str) -> str:
    """What made a parse crisis: the hardship flag, the crisis intent on top, or the ranking."""
    if (parse.get("hardship") or {}).get("crisis"):
        return "flag"
    return "top" if (parse.get("intent") or {}).get("name") == crisis_intent else "ranking"


def score(rows: list[Row], parses: list[dict[str, Any]], crisis_intent: str, crisis_threshold: float) -> dict[str, Any]:
    """Every measure for one set from its rows and their Rasa parse results (same order)."""
    from policies.safety_policy import is_crisis

    n = len(rows)
    final = [str((p.get("intent") or {}).get("name") or "") for p in parses]
    top = [top_intent(p)[0] for p in parses]
    gold = [r.intent for r in rows]
    right = sum(f == g for f, g in zip(final, gold, strict=True))
    fallback = sum(f == FALLBACK for f in final)
    wrong = n - right - fallback
    out: dict[str, Any] = {
        "n": n,
        "intent_accuracy": _ratio(right, n),
        "top_intent_accuracy": _ratio(sum(t == g for t, g in zip(top, gold, strict=True)), n),
        "fallback_rate": _ratio(fallback, n),
        "accepted_wrong_rate": _ratio(wrong, n),
        # fallbacks whose top intent was the gold one: the clarification question named the right act
        "fallback_right_top_rate": _ratio(
            sum(f == FALLBACK and t == g for f, t, g in zip(final, top, gold, strict=True)), n
        ),
    }
    flagged = [is_crisis(p, crisis_intent, crisis_threshold) for p in parses]
    gold_crisis = [g == crisis_intent for g in gold]
    out["crisis"] = {
        "recall": _ratio(sum(f and g for f, g in zip(flagged, gold_crisis, strict=True)), sum(gold_crisis)),
        "caught": sum(f and g for f, g in zip(flagged, gold_crisis, strict=True)),
        "of": sum(gold_crisis),
        "false_alarms": sum(f and not g for f, g in zip(flagged, gold_crisis, strict=True)),
        # label-only: the gold intent of each false alarm and what raised it (flag, top intent, ranking)
        "false_alarms_by": dict(
            Counter(
                f"{r.intent} via {_crisis_source(p, crisis_intent)}"
                for f, g, r, p in zip(flagged, gold_crisis, rows, parses, strict=True)
                if f and not g
            ).most_common()
        ),
    }
    if rows and all(r.labels_hardship for r in rows):
        hardship = [(p.get("hardship") or {}) for p in parses]
        pairs = [
            (r.hardship, h.get("type")) for r, h in zip(rows, hardship, strict=True) if r.hardship or h.get("type")
        ]
        out["hardship_type_accuracy"] = _ratio(sum(g == p for g, p in pairs), len(pairs))
        out["hardship_rows"] = len(pairs)
        vul = [bool(h.get("vulnerable")) for h in hardship]
        tp = sum(v and bool(r.vulnerable) for v, r in zip(vul, rows, strict=True))
        out["vulnerable"] = {
            "precision": _ratio(tp, sum(vul)),
            "recall": _ratio(tp, sum(bool(r.vulnerable) for r in rows)),
            "flagged": sum(vul),
            "gold": sum(bool(r.vulnerable) for r in rows),
            # label-only: misses and false flags counted by gold intent
            "false_negatives_by_intent": dict(
                Counter(r.intent for v, r in zip(vul, rows, strict=True) if r.vulnerable and not v).most_common()
            ),
            "false_positives_by_intent": dict(
                Counter(r.intent for v, r in zip(vul, rows, strict=True) if v and not r.vulnerable).most_common()
            ),
        }
        # label-only: gold hardship type -> predicted type (None as "none"), counts of the mismatches
        out["hardship_confusion"] = dict(
            Counter(f"{g or 'none'} -> {p or 'none'}" for g, p in pairs if g != p).most_common()
        )
    out["per_intent_f1"] = f1_scores(gold, final)
    out["gold_intents"] = dict(Counter(gold).most_common())
    # label-only confusion: gold -> final intent (after fallback) counts of the errors, and for the
    # fallbacks gold -> top intent
    out["intent_errors"] = dict(
        Counter(f"{g} -> {f}" for g, f in zip(gold, final, strict=True) if f != g).most_common()
    )
    out["fallback_top_intents"] = dict(
        Counter(f"{g} -> {t}" for g, f, t in zip(gold, final, top, strict=True) if f == FALLBACK).most_common()
    )
    out["predicted_intents"] = dict(Counter(final).most_common())
    return out


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (also by child processes) to stderr, so that
    standard output carries only the JSON result."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def parse_all(model: Path, sets: dict[str, list[Row]]) -> tuple[dict[str, list[dict[str, Any]]], tuple[float, float]]:
    """Parse every row with the trained model (in-process agent); also the mean wall-clock and CPU
    milliseconds per message."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    import rasa_internals

    configure_structlog(logging.WARNING)
    rasa_internals.apply()  # as the server runs it
    agent = Agent.load(str(model))

    async def run() -> tuple[dict[str, list[dict[str, Any]]], tuple[float, float]]:
        await agent.parse_message("hello")  # warm up (lazy model loads)
        parsed: dict[str, list[dict[str, Any]]] = {}
        elapsed, cpu, count = 0.0, 0.0, 0
        for name, rows in sets.items():
            parsed[name] = []
            for row in rows:
                started, started_cpu = time.perf_counter(), time.process_time()
                parsed[name].append(await agent.parse_message(row.text))
                elapsed += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
                count += 1
        return parsed, (1000 * elapsed / max(count, 1), 1000 * cpu / max(count, 1))

    return asyncio.run(run())


def evaluate(model: Path) -> dict[str, Any]:
    """The whole report for ``model`` (see the module docstring)."""
    from policies.safety_policy import crisis_rule
    from scripts import eval_extraction

    data = shared_data()
    sets: dict[str, list[Row]] = {}
    for name, file in (("en_dev", "debtor_messages_dev.jsonl"), ("zh_dev", "debtor_messages_zh_dev.jsonl")):
        path = data / file
        if not path.exists():
            raise SystemExit(f"{path} not found: set SHARED_DATA to the folder holding the shared evaluation data")
        sets[name] = read_jsonl(path)
    sets["held_out"] = read_held_out()
    rule = crisis_rule()
    parsed, (ms, cpu_ms) = parse_all(model, sets)
    report: dict[str, Any] = {
        "model": model.name,
        "crisis_rule": {"intent": rule.intent, "ranking_threshold": rule.ranking_threshold},
        "nlu_ms_per_message": round(ms, 1),
        "nlu_cpu_ms_per_message": round(cpu_ms, 1),
    }
    for name, rows in sets.items():
        report[name] = score(rows, parsed[name], rule.intent, rule.ranking_threshold)
    extraction = eval_extraction.evaluate(data / "nlupp_banking_amounts_dates.jsonl")
    report["extraction"] = {
        kind: {"correct": s["correct"], "total": s["total"], "accuracy": s["accuracy"]}
        for kind, s in extraction.items()
    }
    return report


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path, help="model archive (default: the model of the current inputs)")
    args.add_argument("--out", type=Path, help="also write the JSON here")
    opts = args.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with stdout_to_stderr():
        model = opts.model
        if model is None:
            from scripts.train import ensure_model

            model = ensure_model()
        report = evaluate(model)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
