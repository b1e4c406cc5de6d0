"""Scale figures of ``make bench`` that need no Rasa server: KPI and dashboard time over the
analytics tables at 10,000 and 100,000 conversations, and outreach (dry run) and risk scoring
rate over a 100,000-account portfolio. Each runs on a fresh database of its own (SQLite in the
bench's scratch folder, or ``--database-url`` for PostgreSQL, one database per measurement).

    python -m scripts.bench_scale [--conversations 10000 100000] [--accounts 100000]

Conversations are synthetic (verification, promises to pay, plans, handoffs, opt-outs, CSAT,
fallbacks, outreach nobody answered) and go through the same reduction as the event broker's
(``bot.analytics``): at the smallest size through the event log itself (``bot.eventlog.append``,
events stored), at larger sizes straight into the analytics tables, which is all the KPI queries
read. Every conversation lies inside the period asked for, the worst case for the queries.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot import analytics, db, eventlog

NOW = datetime.now(timezone.utc).replace(microsecond=0)
OUTREACH_AT = datetime(2026, 11, 30, 18, 0, tzinfo=timezone.utc)  # 13:00 in New York, 18:00 in London
CHANNELS = ("rest", "twilio_sms", "twilio_voice", "webchat")
INTENTS = ("greet", "ask_balance", "promise_to_pay", "request_payment_plan", "goodbye", "deny", "inform_hardship")


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def conversation_events(rng: random.Random, sender: int, start: float, accounts: list[str]) -> list[dict[str, Any]]:
    """One synthetic conversation session as Rasa stores it (event dicts, one second apart)."""
    t = start
    out: list[dict[str, Any]] = []

    def add(event: dict[str, Any]) -> None:
        nonlocal t
        t += 1.0
        out.append({**event, "timestamp": t})

    def user(text: str, intent: str, confidence: float, channel: str) -> None:
        ranking = [{"name": intent, "confidence": confidence}, {"name": "nlu_fallback", "confidence": 0.7}]
        parse = {"intent": {"name": intent, "confidence": confidence}, "intent_ranking": ranking, "text": text}
        add({"event": "user", "text": text, "parse_data": parse, "input_channel": channel})

    add({"event": "action", "name": "action_session_start"})
    add({"event": "session_started"})
    add({"event": "action", "name": "action_listen"})
    if rng.random() < 0.1:  # an outreach SMS nobody answered
        user("", "EXTERNAL_outreach", 1.0, "")
        add({"event": "action", "name": "action_outreach_message"})
        return out
    channel = rng.choice(CHANNELS)
    for turn in range(rng.randint(2, 9)):
        confidence = round(rng.uniform(0.3, 0.99), 2)
        intent = rng.choice(INTENTS) if confidence > 0.45 else "nlu_fallback"
        user(f"message {sender} {turn} {rng.randint(0, 10**6)}", intent, confidence, channel)
        roll = rng.random()
        if intent == "nlu_fallback" or roll < 0.08:
            add({"event": "action", "name": "utter_default"})
        elif roll < 0.35:
            add({"event": "slot", "name": "account_id", "value": rng.choice(accounts)})
            add({"event": "slot", "name": "identity_verified", "value": True})
        elif roll < 0.42:
            add({"event": "slot", "name": "handoff_reason", "value": rng.choice(("dispute", "crisis", "attorney"))})
        elif roll < 0.46:
            add({"event": "action", "name": "action_request_human"})
        elif roll < 0.5:
            add({"event": "action", "name": "action_opt_out"})
        elif roll < 0.6:
            add({"event": "action", "name": "action_offer_plans"})
            if rng.random() < 0.4:
                add({"event": "slot", "name": "arrangement_id", "value": rng.randint(1, 10**6)})
        elif roll < 0.7:
            add({"event": "slot", "name": "csat_score", "value": float(rng.randint(1, 5))})
        add({"event": "bot", "text": "reply"})
        add({"event": "action", "name": "action_listen"})
    return out


def populate_conversations(url: str, count: int, through_event_log: bool, seed: int = 20) -> dict[str, Any]:
    """``count`` synthetic conversations over the last 25 days (a sender has 1-3), with promises to
    pay for about one in six, into ``url``; returns how long it took and how."""
    from sqlalchemy import insert, select

    from bot.outreach.portfolio import iter_generate, load_into

    rng = random.Random(seed)
    with db.session_scope(url) as session:
        load_into(session, iter_generate(count=2000))
        accounts = [str(a) for a in session.execute(select(db.Account.id)).scalars()]
    started = time.perf_counter()
    made, sender, promises = 0, 0, []
    pending: list[analytics.ConversationState] = []
    with db.session_scope(url) as session:
        while made < count:
            sender += 1
            sender_id = f"+1555{sender:07d}"
            events: list[dict[str, Any]] = []
            for _ in range(min(rng.randint(1, 3), count - made)):
                start = (NOW - timedelta(days=25)).timestamp() + rng.uniform(0, 24 * 86400)
                start = max(start, (events[-1]["timestamp"] + 7200) if events else start)
                session_events = conversation_events(rng, sender, start, accounts)
                if rng.random() < 0.17:
                    made_at = datetime.fromtimestamp(session_events[-1]["timestamp"], tz=timezone.utc)
                    promises.append(
                        {
                            "account_id": rng.choice(accounts),
                            "amount_minor": 5000,
                            "currency": "USD",
                            "due_date": date(2026, 12, 1),
                            "status": rng.choice(("open", "kept", "broken")),
                            "channel": "sms",
                            "conversation_id": sender_id,
                            "created_at": made_at,
                        }
                    )
                events += session_events
                made += 1
            if through_event_log:
                eventlog.append(session, sender_id, 0, events)
            else:  # as ``bot.analytics.rebuild`` writes: many conversations a statement
                pending += analytics.reduce(sender_id, enumerate(events))
                if len(pending) >= 2000:
                    analytics.store(session, pending)
                    pending = []
            if sender % 2000 == 0:
                session.commit()
        analytics.store(session, pending)
        if promises:
            session.execute(insert(db.PromiseToPay.__table__), promises)
    seconds = time.perf_counter() - started
    return {
        "conversations": count,
        "senders": sender,
        "promises": len(promises),
        "written_through": "event log (bot.eventlog.append, as the broker)"
        if through_event_log
        else "analytics tables",
        "populate_s": round(seconds, 1),
        "populate_conversations_per_s": round(count / seconds, 1),
    }


def _timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best of ``repeat`` wall-clock times of ``fn()``, in seconds (the first run warms caches)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def measure_kpis(url: str) -> dict[str, Any]:
    """KPI report time by grouping, and the full dashboard through the console app (the page
    with its tiles, two tables and four charts, drawn inline from one pass), over everything in
    the last 30 days; each chart on its own at /ops/charts/<name>.svg besides."""
    from bot.ops import Scope, kpi_report
    from console.app import create_app
    from console.models import create_user

    since = NOW - timedelta(days=30)
    out: dict[str, Any] = {}
    with db.session_scope(url) as session:
        for by in (None, "day", "channel", "segment"):
            started = time.process_time()
            out[f"kpi_{by or 'total'}_s"] = _timed(lambda by=by: kpi_report(session, Scope(since=since), by))
            out[f"kpi_{by or 'total'}_cpu_s"] = round((time.process_time() - started) / 3, 3)
        total = kpi_report(session, Scope(since=since))[-1]
        out["conversations_counted"] = total.conversations
        create_user(session, "bench-sup", "supervisor-pass-bench", "supervisor")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "REDIS_PORT": 1, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login = client.post("/login", data={"username": "bench-sup", "password": "supervisor-pass-bench"})
    if login.status_code != 302:
        raise RuntimeError(f"console log-in failed: {login.status_code}")

    def dashboard() -> None:
        response = client.get("/ops/?since=30d")
        if response.status_code != 200 or response.get_data().count(b"data:image/svg+xml") != 4:
            raise RuntimeError(f"the dashboard answered {response.status_code} without its four charts")

    started = time.process_time()
    out["dashboard_s"] = _timed(dashboard)
    out["dashboard_cpu_s"] = round((time.process_time() - started) / 3, 3)
    charts = [f"/ops/charts/{c}.svg?since=30d" for c in ("rates", "volume", "csat", "handoffs")]
    out["chart_alone_s"] = {path.split("?")[0]: _timed(lambda path=path: client.get(path), 1) for path in charts}
    out["review_queue_s"] = _timed(lambda: client.get("/ops/review"))
    out["conversations_page_s"] = _timed(lambda: client.get("/ops/conversations?since=30d"))
    return out


def measure_portfolio(url: str, accounts: int) -> dict[str, Any]:
    """Load a generated portfolio of ``accounts`` in bulk, then time an outreach dry run and the
    early-warning scoring over all of it."""
    from bot.outreach.campaigns import run
    from bot.outreach.portfolio import iter_generate, load_into
    from bot.outreach.risk import early_warning, train

    out: dict[str, Any] = {"accounts": accounts}
    started = time.perf_counter()
    with db.session_scope(url) as session:
        load_into(session, iter_generate(count=accounts - 5))  # the five fixture accounts come first
    seconds = time.perf_counter() - started
    out.update(load_s=round(seconds, 1), load_accounts_per_s=round(accounts / seconds))
    with db.session_scope(url) as session:
        started = time.perf_counter()
        result = run(session, OUTREACH_AT, None, None, progress=False)
        seconds = time.perf_counter() - started
    out.update(
        outreach_dry_run_s=round(seconds, 1),
        outreach_accounts_per_s=round(len(result.attempts) / seconds),
        outreach_would_send=sum(result.sent.values()),
        outreach_deferred=sum(1 for a in result.attempts if a.outcome != "send"),
    )
    started = time.perf_counter()
    model = train()
    out["risk_training_s"] = round(time.perf_counter() - started, 1)
    with db.session_scope(url) as session:
        started = time.perf_counter()
        warnings = early_warning(session, model, 0.7)
        seconds = time.perf_counter() - started
    out.update(
        risk_scoring_s=round(seconds, 1), risk_accounts_per_s=round(accounts / seconds), risk_flagged=len(warnings)
    )
    return out


def databases(work: Path, postgres_url: str | None) -> Iterator[str]:
    """Fresh databases: SQLite files in ``work``, or new databases on the PostgreSQL server of
    ``postgres_url`` (its user must be allowed to create databases)."""
    n = 0
    while True:
        n += 1
        if postgres_url is None:
            yield f"sqlite:///{work / f'scale-{n}.db'}"
            continue
        from sqlalchemy import create_engine

        name = f"bench_{int(time.time())}_{n}"
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", future=True)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"


def measure(conversations: list[int], accounts: int, work: Path, postgres_url: str | None = None) -> dict[str, Any]:
    """All scale figures as one dict (see the module docstring)."""
    fresh = databases(work, postgres_url)
    out: dict[str, Any] = {"database": "PostgreSQL" if postgres_url else "SQLite", "analytics": {}}
    smallest = min(conversations) if conversations else 0
    for count in sorted(conversations):
        url = next(fresh)
        figures = populate_conversations(url, count, through_event_log=count == smallest)
        rss_before = peak_rss_mb()
        figures.update(measure_kpis(url))
        figures["peak_rss_mb"] = peak_rss_mb()
        figures["peak_rss_growth_mb"] = round(figures["peak_rss_mb"] - rss_before, 1)
        out["analytics"][str(count)] = figures
        db._engines.pop(url).dispose()
    if len(conversations) >= 2:
        low, high = sorted(conversations)[0], sorted(conversations)[-1]
        a, b = out["analytics"][str(low)], out["analytics"][str(high)]
        for name in ("kpi_total_s", "kpi_day_s", "dashboard_s"):
            per = (b[name] - a[name]) / (high - low)  # seconds per conversation in the period
            out["analytics"][f"{name}_extrapolated_10M_in_period"] = round(b[name] + per * (10_000_000 - high), 1)
        out["analytics"]["extrapolation_note"] = (
            "linear from the two sizes, every conversation inside the period asked for; the queries "
            "aggregate in the database (memory does not grow with conversations) and the period is "
            "found by the index on the start time, so 10M stored conversations with 100k in the "
            "period cost what the 100k figure says"
        )
    if accounts:
        url = next(fresh)
        out["portfolio"] = measure_portfolio(url, accounts)
        db._engines.pop(url).dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL URL whose user may create databases (default SQLite)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="collections-bench-scale-") as work:
        print(json.dumps(measure(args.conversations, args.accounts, Path(work), args.database_url), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
