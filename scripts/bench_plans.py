"""Plan engine throughput: ``python -m scripts.bench_plans [--count N]`` prints one JSON object
with plans per second over a deterministic mix of balances, DPD, jurisdictions, I&E and hardship
(target: 10,000 plan requests in under 2 s on 2 cores)."""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import date, timedelta
from decimal import Decimal

from bot.money import Money
from bot.repayment.plans import PlanRequest, counter_instalments, propose

CURRENCY = {"US-MA": "USD", "US-CA": "USD", "US-NY": "USD", "UK": "GBP", "CN": "CNY"}


def requests(count: int, seed: int = 7) -> list[PlanRequest]:
    """``count`` varied plan requests, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        jurisdiction = rng.choice(sorted(CURRENCY))
        currency = CURRENCY[jurisdiction]
        disposable = rng.choice([None, rng.randrange(0, 150_000)])
        hardship = rng.choice([None, None, "job_loss", "medical", "military"])
        out.append(
            PlanRequest(
                balance=Money(rng.randrange(10_000, 2_000_000), currency),
                days_past_due=rng.randrange(1, 200),
                jurisdiction=jurisdiction,
                today=date(2026, 1, 1) + timedelta(days=rng.randrange(365)),
                hardship_type=hardship,
                hardship_duration=rng.choice(["temporary", "lasting"]) if hardship else None,
                disposable_monthly=None if disposable is None else Money(disposable, currency),
                annual_rate=Decimal(rng.randrange(0, 3000)) / 10000,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Time :func:`bot.repayment.plans.propose` over ``--count`` requests; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args(argv)
    batch = requests(args.count)
    propose(batch[0])  # load the offer policy files outside the timing
    start, cpu_start = time.perf_counter(), time.process_time()
    options = sum(len(propose(r)) for r in batch)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    for r in batch[:1000]:
        counter_instalments(r, Money(5_000, r.balance.currency), "monthly")
    counter_elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "plan_requests": args.count,
                "options": options,
                "seconds": round(elapsed, 3),
                "cpu_seconds": round(cpu, 3),  # wall time suffers when other work shares the cores
                "plans_per_second": round(args.count / elapsed),
                "target_met": elapsed < 2.0 if args.count == 10_000 else None,
                "counter_offers_per_second": round(1000 / counter_elapsed),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
