"""Check SafetyPolicy's crisis ranking threshold on held-out data, not by guessing.

SafetyPolicy treats a message as crisis language when the hardship classifier raises its crisis
flag, or the crisis intent is the top intent, or the crisis intent is in the intent ranking with
at least ``crisis_ranking_threshold`` (``config.yml``; :class:`policies.safety_policy.CrisisRule`).
A missed crisis message is never acceptable; a false alarm sends a helpline message and a
top-priority handoff to someone who did not need it.

Parses ``tests/nlu/crisis_messages.yml`` (``messages``: must all be caught; ``not_crisis``: idioms
that should not be) and the held-out examples of ``tests/nlu/held_out.yml`` whose intent is not the
crisis intent, then for each threshold counts the crisis messages caught and the false alarms (and,
for information, how many held-out examples of the crisis intent itself are caught).
A threshold is recommended only if it catches every crisis message and raises fewer false alarms
than the configured one (the lowest such threshold among ties, for the widest margin).

    .venv/bin/python -m scripts.tune_crisis                 # the current model (trains if needed)
    .venv/bin/python -m scripts.tune_crisis --model models/model-<hash>.tar.gz
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.safety_policy import crisis_rule, is_crisis
from scripts.services import ROOT
from scripts.tune_fallback import held_out_examples

CRISIS_MESSAGES = ROOT / "tests" / "nlu" / "crisis_messages.yml"
THRESHOLDS = [round(0.20 + 0.05 * i, 2) for i in range(11)]  # 0.20 … 0.70
WATCHED = ["can u do sumthin for me"]  # known false alarms, shown per threshold


@dataclass(frozen=True)
class Parsed:
    """One message and the parts of its Rasa parse result the crisis rule looks at."""

    text: str
    parse: dict[str, Any]

    def distress(self, intent: str) -> float:
        """The crisis intent's confidence in the ranking (0.0 when absent)."""
        ranking = self.parse.get("intent_ranking") or []
        return max((float(r.get("confidence") or 0) for r in ranking if r.get("name") == intent), default=0.0)


def message_sets(crisis_path: Path = CRISIS_MESSAGES, crisis_intent: str = "express_distress") -> dict[str, list[str]]:
    """{"crisis": must be caught, "not_crisis": idioms, "held_out": held-out examples of other intents,
    "held_out_distress": held-out examples of the crisis intent}."""
    raw = yaml.safe_load(crisis_path.read_text())
    examples = held_out_examples()
    return {
        "crisis": list(raw["messages"]),
        "not_crisis": list(raw.get("not_crisis") or []),
        "held_out": [text for text, intent in examples if intent != crisis_intent],
        "held_out_distress": [text for text, intent in examples if intent == crisis_intent],
    }


def parse_all(model: Path, texts: list[str]) -> list[Parsed]:
    """Parse every text with the trained model (in-process Rasa agent, NLU only)."""
    import logging

    from rasa.core.agent import load_agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parsed message

    async def run() -> list[Parsed]:
        agent = await load_agent(model_path=str(model))
        return [Parsed(text, await agent.parse_message(text)) for text in texts]

    return asyncio.run(run())


def sweep(sets: dict[str, list[Parsed]], intent: str, thresholds: list[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """Per threshold: crisis messages caught, false alarms on held-out and on idioms, watched texts flagged."""
    rows = []
    for t in thresholds:

        def hits(items: list[Parsed], t: float = t) -> list[str]:
            return [p.text for p in items if is_crisis(p.parse, intent, t)]

        rows.append(
            {
                "threshold": t,
                "crisis_caught": len(hits(sets["crisis"])),
                "crisis_total": len(sets["crisis"]),
                "missed": [p.text for p in sets["crisis"] if p.text not in hits(sets["crisis"])],
                "false_alarms_held_out": len(hits(sets["held_out"])),
                "held_out_total": len(sets["held_out"]),
                "false_alarm_texts": hits(sets["held_out"]),
                "false_alarms_not_crisis": len(hits(sets["not_crisis"])),
                "not_crisis_total": len(sets["not_crisis"]),
                "held_out_distress_caught": len(hits(sets.get("held_out_distress", []))),
                "held_out_distress_total": len(sets.get("held_out_distress", [])),
                "watched_flagged": hits(sets.get("watched", [])),
            }
        )
    return rows


def recommend(rows: list[dict[str, Any]], configured: float) -> dict[str, Any] | None:
    """The lowest threshold that catches every crisis message with fewer false alarms (held-out plus
    idioms) than ``configured``; None when no threshold does better."""
    current = next(r for r in rows if abs(r["threshold"] - configured) < 1e-9)

    def alarms(r: dict[str, Any]) -> int:
        return int(r["false_alarms_held_out"] + r["false_alarms_not_crisis"])

    better = [r for r in rows if r["crisis_caught"] == r["crisis_total"] and alarms(r) < alarms(current)]
    if not better:
        return None
    fewest = min(alarms(r) for r in better)
    return min((r for r in better if alarms(r) == fewest), key=lambda r: r["threshold"])


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path, help="model archive (default: the model of the current inputs)")
    model = args.parse_args().model
    if model is None:
        from scripts.train import ensure_model

        model = ensure_model()
    rule = crisis_rule()
    texts = message_sets(crisis_intent=rule.intent)
    texts["watched"] = WATCHED
    flat = [t for group in texts.values() for t in group]
    parsed = dict(zip(flat, parse_all(model, flat), strict=True))
    sets = {name: [parsed[t] for t in group] for name, group in texts.items()}
    rows = sweep(sets, rule.intent)

    print(
        f"model {model.name}; rule: hardship crisis flag OR top intent {rule.intent} OR {rule.intent} in ranking >= t"
    )
    print(f"{'t':>5} {'crisis caught':>13} {'held-out false alarms':>21} {'idiom false alarms':>18}  distress  watched")
    for r in rows:
        mark = " <- configured" if abs(r["threshold"] - rule.ranking_threshold) < 1e-9 else ""
        print(
            f"{r['threshold']:>5.2f} {r['crisis_caught']:>6}/{r['crisis_total']:<6} "
            f"{r['false_alarms_held_out']:>10}/{r['held_out_total']:<10} "
            f"{r['false_alarms_not_crisis']:>9}/{r['not_crisis_total']:<8} "
            f"{r['held_out_distress_caught']:>5}/{r['held_out_distress_total']:<3}  "
            f"{len(r['watched_flagged'])}/{len(WATCHED)}{mark}"
        )
    for p in sets["crisis"] + sets["held_out_distress"]:
        if not is_crisis(p.parse, rule.intent, 1.01):
            print(
                f"  distress left to the ranking (no crisis flag, not top): {p.distress(rule.intent):.3f}  {p.text!r}"
            )
    for p in sets["held_out"] + sets["not_crisis"] + sets["watched"]:
        if is_crisis(p.parse, rule.intent, min(THRESHOLDS)):
            flag = " (crisis flag or top intent)" if is_crisis(p.parse, rule.intent, 1.01) else ""
            print(f"  false alarm at {min(THRESHOLDS):.2f}: {p.distress(rule.intent):.3f}  {p.text!r}{flag}")
    chosen = recommend(rows, rule.ranking_threshold)
    if chosen is None:
        print(f"no threshold catches every crisis message with fewer false alarms; keep {rule.ranking_threshold}")
    else:
        print(f"recommended crisis_ranking_threshold: {chosen['threshold']}")
    out = ROOT / "reports" / "crisis_tuning.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"model": model.name, "configured": rule.ranking_threshold, "rows": rows, "recommended": chosen}, indent=2
        )
    )
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
