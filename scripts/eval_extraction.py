"""Accuracy of money and date extraction on the NLU++ banking utterances (evaluation only; never
used for training). Prints figures; the test suite asserts a floor on them.

    .venv/bin/python -m scripts.eval_extraction [--show-errors]
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.extraction import find_amounts, find_dates

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nlupp_banking_amounts_dates.jsonl"


def evaluate(path: Path = DATA) -> dict[str, object]:
    """{"amount": {"total", "correct", "accuracy", "errors"}, "date": {...}} over the file."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = lines[0]["_meta"]
    ref = date.fromisoformat(meta["reference_date"])
    now = datetime(ref.year, ref.month, ref.day, 12, tzinfo=ZoneInfo("UTC"))
    stats: dict[str, dict[str, object]] = {k: {"total": 0, "correct": 0, "errors": []} for k in ("amount", "date")}
    for row in lines[1:]:
        text = row["text"]
        if "amount" in row:
            want = row["amount"]
            got = find_amounts(text, "USD", "UTC", now)
            ok = any(
                a.money.amount == Decimal(str(want["value"])).quantize(a.money.amount)
                and (want["currency"] == "ambiguous" or a.money.currency == want["currency"])
                for a in got
            )
            _count(stats["amount"], ok, text, want, [str(a.money) for a in got])
        if "date" in row:
            want = row["date"]
            got_dates = find_dates(text, "UTC", now)
            ok = any(d.value.isoformat() == want["value"] for d in got_dates)
            _count(stats["date"], ok, text, want, [d.value.isoformat() for d in got_dates])
    for s in stats.values():
        s["accuracy"] = round(int(s["correct"]) / max(int(s["total"]), 1), 3)  # type: ignore[call-overload]
    return stats


def _count(s: dict[str, object], ok: bool, text: str, want: object, got: object) -> None:
    s["total"] = int(s["total"]) + 1  # type: ignore[call-overload]
    if ok:
        s["correct"] = int(s["correct"]) + 1  # type: ignore[call-overload]
    else:
        s["errors"].append({"text": text, "want": want, "got": got})  # type: ignore[attr-defined]


if __name__ == "__main__":
    result = evaluate()
    for kind, s in result.items():
        print(f"{kind}: {s['correct']}/{s['total']} = {s['accuracy']}")  # type: ignore[index]
        if "--show-errors" in sys.argv:
            for e in s["errors"]:  # type: ignore[index]
                print("   ", e)
