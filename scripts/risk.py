"""Roll-rate model and early warning: trains on the synthetic cohort, prints the held-out AUC,
the coefficients and the accounts likely to roll within 30 days, and saves a chart.

    python -m scripts.risk [--threshold 0.7] [--chart reports/risk.png]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from bot import db
from bot.outreach.risk import FEATURES, early_warning, save_chart, train

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.risk", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threshold", type=float, default=0.7, help="roll probability that puts an account on the list"
    )
    parser.add_argument("--chart", type=Path, default=ROOT / "reports" / "risk.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not 0 < args.threshold < 1:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    model = train()
    print(
        f"roll-rate model: logistic regression on {len(FEATURES)} features; trained on {model.train_size} "
        f"synthetic snapshots, tested on {model.test_size} held out (base roll rate {model.base_rate:.0%})"
    )
    print(f"AUC (held out): {model.auc:.3f}")
    print("coefficients (log-odds per standard deviation; positive = more likely to roll):")
    for name, coef in model.coefficients:
        print(f"  {name:<22} {coef:+.3f}  (odds x{math.exp(coef):.2f})")
    with db.session_scope() as session:
        warnings = early_warning(session, model, args.threshold, progress=not args.quiet)
    print(f"\nearly warning: {len(warnings)} accounts with roll probability >= {args.threshold:.0%} within 30 days")
    for w in warnings:
        drivers = ", ".join(f"{f} {c:+.2f}" for f, c in w.drivers)
        print(
            f"  {w.account_id}  {w.days_past_due:>3} DPD  {w.bucket:>5} -> {w.next_bucket:<10} {w.probability:.0%}  {drivers}"
        )
    path = save_chart(model, warnings, args.chart)
    print(f"\nchart saved: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
