"""``make bench``: latency, throughput, memory and training time of the bot against a vanilla
``rasa init`` bot, the cost of a turn with a long history, and the scale figures of KPIs,
dashboard, outreach and risk scoring, measured in one run on this machine; prints one JSON object.

For each bot, over the REST channel: one conversation at a time (turn latency p50/p95), then 20
and 100 conversations at once (throughput in messages/s and p95). Every conversation is worded
its own way (``scripts.loadgen``): no message repeats one an earlier conversation sent, as in real
traffic, where a repeated text would not find its sentence embedding cached. Our bot runs its
full pipeline (Redis tracker and lock stores, the event log and analytics tables, action server,
SQLite system of record, send-time lint); the vanilla bot is generated with ``rasa init
--no-prompt`` into a temporary folder, trained there and served with what ``rasa init`` gives
(in-memory tracker and lock stores, no action server). Memory is the peak resident set (VmHWM
from /proc) of each server process tree.

``history``: turn latency and Rasa CPU per turn for debtors with no earlier conversation and for
debtors with 300 earlier sessions under the same phone number (copies of a real session, saved
session by session through the tracker store as conversations would have). ``scale``:
``scripts.bench_scale`` (KPIs and dashboard at 10,000 and 100,000 conversations, outreach dry
run and risk scoring over 100,000 accounts).

    python -m scripts.bench [--quick] [--profile out.prof] [--workers N] [--skip-vanilla]
                            [--skip-history] [--skip-scale] [--conversations N ...] [--accounts N]

``--profile`` runs our Rasa server under cProfile and adds the top functions to the output.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile  # noqa: F401  (documents that the profiler is the standard library's)
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from scripts import loadgen, services
from scripts.train import TRAINING_DATA, ensure_model

SINGLE_CONVERSATIONS = 5  # sequential conversations of 8 turns for the single-conversation latency
TARGETS = {
    "p50_ratio_max": 1.5,
    "throughput_c20_ratio_min": 1.0,
    "rasa_rss_mb_max": 2500,
    "history_p50_ratio_max": 1.3,
    "kpi_s_max": 2.0,
    "dashboard_s_max": 2.0,
    "accounts_per_s_min": 2000,
}


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (from /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending.extend(int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split())
        except OSError:
            continue
    return found


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of ``pid`` and its live descendants, in MiB, from /proc."""
    total_kb = 0
    for current in _process_tree(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return round(total_kb / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants so far, in seconds (/proc)."""
    ticks = 0
    for current in _process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def timed(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run a command to completion (output to ``log``); its wall-clock time in seconds."""
    started = time.monotonic()
    with open(log, "ab") as out:
        subprocess.run(args, cwd=cwd, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    return round(time.monotonic() - started, 1)


@dataclass
class Target:
    """A running bot to measure: REST URL, scripts per phase, and how to forget conversations."""

    name: str
    url: str
    scripts_for: Callable[[str, int], dict[str, list[str]]]
    reset: Callable[[], Any]
    result: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, int] = field(default_factory=dict)  # name -> pid, for CPU time per message
    extra: dict[str, Any] = field(default_factory=dict)


def measure(targets: list[Target], quick: bool) -> None:
    """Single-conversation latency, then 20 and 100 concurrent conversations, phase by phase with
    the bots taking turns so both see the same machine load (results go to ``target.result``)."""
    phases = [("single", 2 if quick else SINGLE_CONVERSATIONS, 8), ("c20", 20, 8), ("c100", 100, 4)]
    for phase, conversations, turns in phases:
        for target in targets:
            target.reset()
            scripts = {s: script[:turns] for s, script in target.scripts_for(phase, conversations).items()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in target.servers.items()}
            if phase == "single":  # one conversation at a time
                run = loadgen.Run()
                for sender, script in scripts.items():
                    one = asyncio.run(loadgen.conversations([target.url], {sender: script}))
                    run.turns += one.turns
                    run.seconds += one.seconds
                target.result["unanswered_single_turns"] = sum(t.status != 200 or not t.replies for t in run.turns)
            else:
                run = asyncio.run(loadgen.conversations([target.url], scripts))
            target.result[phase] = run.summary()
            # CPU per message depends far less on other load than wall time does
            messages = max(1, target.result[phase]["messages"])
            for name, pid in target.servers.items():
                used = cpu_seconds(pid) - cpu_before[name]
                target.result[phase][f"{name}_cpu_ms_per_message"] = round(used * 1000 / messages, 1)


def warm_up(url: str, sender: str, texts: list[str]) -> None:
    """First messages load lazy parts (TensorFlow graphs, embeddings); not measured."""
    asyncio.run(loadgen.conversations([url], {sender: texts}))


@contextmanager
def vanilla_bot(work: Path, logs: Path) -> Iterator[tuple[Target, subprocess.Popen[bytes]]]:
    """Generate, train and serve ``rasa init --no-prompt`` in ``work/vanilla``."""
    folder = work / "vanilla"
    folder.mkdir()
    env = services.base_env(RASA_CACHE_DIRECTORY=str(work / "vanilla-cache"))
    rasa = str(services.VENV_BIN / "rasa")
    # rasa init trains as part of scaffolding: its time is the vanilla training time (cold cache)
    train_s = timed([rasa, "init", "--no-prompt", "--init-dir", str(folder)], work, env, logs / "vanilla-init.log")
    port = services.free_port()
    args = [rasa, "run", "--model", "models", "--port", str(port), "--interface", "127.0.0.1"]
    args += ["--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
    with open(logs / "vanilla-rasa.log", "ab") as out:
        proc = subprocess.Popen(args, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    try:
        services.wait_for(
            lambda: services.http_ok(f"http://127.0.0.1:{port}/webhooks/rest/"), "vanilla Rasa", 300, proc
        )
        variants = iter(range(loadgen.VARIANTS))
        warm_up(url, "warm-up", loadgen.vanilla_script(next(variants)))

        def scripts_for(phase: str, n: int) -> dict[str, list[str]]:
            # new senders per phase, each with wording no earlier conversation used
            return {f"{phase}-{i}": loadgen.vanilla_script(next(variants)) for i in range(n)}

        target = Target("vanilla", url, scripts_for, reset=lambda: None, servers={"rasa": proc.pid})
        target.result.update(
            training_s=train_s,
            training_note="rasa init --no-prompt (trains the moodbot from an empty cache)",
            tracker_store="in-memory (rasa init default), in-memory lock store, no action server",
        )
        yield target, proc
    finally:
        services.stop(proc)


@dataclass
class Debtors:
    """Load accounts and wordings handed out one per conversation, so none repeats another's text."""

    accounts: Iterator[loadgen.PortfolioAccount]
    variants: Iterator[int] = field(default_factory=lambda: iter(range(loadgen.VARIANTS)))

    def script(self) -> tuple[loadgen.PortfolioAccount, list[str]]:
        """A new debtor and its conversation, worded as no other in this run."""
        account = next(self.accounts)
        return account, loadgen.debtor_script(account, next(self.variants))


@contextmanager
def our_bot(
    work: Path, logs: Path, profile: Path | None, workers: int
) -> Iterator[tuple[Target, list[subprocess.Popen[bytes]]]]:
    """Serve our bot with its full pipeline on free ports, a private Redis and database.
    Yields the target and [action server, Rasa server]; ``target.extra`` carries the Redis port,
    the database URL and the debtors not used yet."""
    model = ensure_model()
    redis_port = services.free_port()
    database = f"sqlite:///{work / 'bench.db'}"
    accounts = loadgen.ensure_accounts(database, count=loadgen.VARIANTS)
    debtors = Debtors(iter(accounts))
    rasa_port = str(services.free_port())
    env = services.base_env(
        REDIS_PORT=str(redis_port),
        ACTION_PORT=str(services.free_port()),
        RASA_PORT=rasa_port,
        DATABASE_URL=database,
        WEBCHAT_SECRET="bench-secret",
        FAKE_TWILIO_PORT=str(services.free_port()),
        PUBLIC_URL=f"http://127.0.0.1:{rasa_port}",
        SANIC_WORKERS=str(workers),
    )
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{env['ACTION_PORT']}/webhook"
    env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}"
    procs: list[subprocess.Popen[bytes]] = []
    red_proc = services.start_redis(redis_port, work / "redis", persist=False, log=logs / "redis.log")
    try:
        procs.append(services.start_action_server(env, log=logs / "actions.log"))
        if profile:
            procs.append(_start_profiled(model, env, logs / "rasa.log", profile))
        else:
            procs.append(services.start_rasa_server(model, env, log=logs / "rasa.log"))
        url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        account, script = debtors.script()
        warm_up(url, account.phone, script)

        def scripts_for(phase: str, n: int) -> dict[str, list[str]]:
            return dict((a.phone, texts) for a, texts in (debtors.script() for _ in range(n)))

        # every conversation is a new debtor: nothing to forget between phases
        target = Target(
            "ours",
            url,
            scripts_for,
            reset=lambda: None,
            servers={"rasa": procs[-1].pid, "actions": procs[0].pid, "redis": red_proc.pid},
        )
        target.extra = {"redis_port": redis_port, "database": database, "debtors": debtors}
        target.result.update(
            sanic_workers=workers,
            model=model.name,
            tracker_store="Redis (StrictRedisTrackerStore, current session only) + AtomicRedisLockStore; "
            "event log and analytics tables in the SQLite system of record (SQLEventLog broker)",
        )
        yield target, procs
    finally:
        for proc in reversed(procs):
            services.stop(proc, timeout=60)
        services.stop(red_proc)


def _history_sessions(target: Target, template: list[dict[str, Any]], sender: str, sessions: int) -> None:
    """Give ``sender`` ``sessions`` earlier sessions, copies of ``template`` (one real session's
    events) a day apart ending two days ago, saved one by one through the tracker store the Rasa
    server uses, as a conversation a day would have left them."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    from stores.event_broker import SQLEventLog
    from stores.redis_store import StrictRedisTrackerStore

    domain = Domain.load(str(services.ROOT / "bot" / "domain"))
    store = StrictRedisTrackerStore(
        domain,
        host="127.0.0.1",
        port=target.extra["redis_port"],
        key_prefix="collections",
        event_broker=SQLEventLog(url=target.extra["database"]),
        require_event_log=True,
    )
    first = float(template[0]["timestamp"])
    latest: list[dict[str, Any]] = []
    for k in range(sessions):
        shift = time.time() - (sessions - k + 1) * 86400 - first
        events = [{**e, "timestamp": float(e["timestamp"]) + shift} for e in template]
        tracker = DialogueStateTracker.from_dict(sender, latest + events, domain.slots)
        asyncio.run(store.save(tracker))
        start = max((i for i, e in enumerate(events) if e.get("name") == "action_session_start"), default=0)
        latest = events[start:]  # what the processor holds: the session from its start


def measure_history(target: Target, sessions: int, rounds: int) -> dict[str, Any]:
    """Turn latency and Rasa CPU per turn, one conversation at a time, for debtors with no earlier
    conversation and debtors with ``sessions`` earlier sessions, alternating (``rounds`` of each)."""
    from bot import db, eventlog

    debtors: Debtors = target.extra["debtors"]
    account, script = debtors.script()
    asyncio.run(loadgen.conversations([target.url], {account.phone: script}))
    with db.session_scope(target.extra["database"]) as session:
        template = eventlog.read(session, account.phone)
    client = redis.Redis(host="127.0.0.1", port=target.extra["redis_port"])
    runs: dict[str, loadgen.Run] = {"none": loadgen.Run(), "long": loadgen.Run()}
    cpu = {"none": 0.0, "long": 0.0}
    sizes: dict[str, list[int]] = {"none": [], "long": []}
    prepared_s = 0.0
    for _ in range(rounds):
        for kind in ("none", "long"):
            account, script = debtors.script()
            if kind == "long":
                started = time.monotonic()
                _history_sessions(target, template, account.phone, sessions)
                prepared_s += time.monotonic() - started
            before = cpu_seconds(target.servers["rasa"])
            for text in script:  # one message at a time, as the single-conversation phase
                one = asyncio.run(loadgen.conversations([target.url], {account.phone: [text]}))
                runs[kind].turns += one.turns
                runs[kind].seconds += one.seconds
            cpu[kind] += cpu_seconds(target.servers["rasa"]) - before
            sizes[kind].append(len(client.get(f"collections:tracker:{account.phone}") or b""))
    out: dict[str, Any] = {"earlier_sessions": sessions, "events_per_session": len(template), "rounds": rounds}
    for kind, label in (("none", "0_earlier_sessions"), ("long", f"{sessions}_earlier_sessions")):
        summary = runs[kind].summary()
        summary["rasa_cpu_ms_per_turn"] = round(cpu[kind] * 1000 / max(1, summary["messages"]), 1)
        summary["redis_tracker_bytes"] = max(sizes[kind])
        summary["unanswered"] = sum(t.status != 200 or not t.replies for t in runs[kind].turns)
        out[label] = summary
    long_label = f"{sessions}_earlier_sessions"
    out["p50_ratio"] = round(out[long_label]["p50_ms"] / out["0_earlier_sessions"]["p50_ms"], 2)
    out["cpu_ratio"] = round(
        out[long_label]["rasa_cpu_ms_per_turn"] / max(0.1, out["0_earlier_sessions"]["rasa_cpu_ms_per_turn"]), 2
    )
    out["history_saved_through_store_s"] = round(prepared_s, 1)
    return out


def _start_profiled(model: Path, env: dict[str, str], log: Path, out: Path) -> subprocess.Popen[bytes]:
    args = [str(services.VENV_BIN / "python"), "-m", "cProfile", "-o", str(out), "-m", "rasa", "run"]
    args += ["--model", str(model), "--port", env["RASA_PORT"], "--interface", "127.0.0.1"]
    args += ["--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
    proc = services._spawn(args, {**services.SERVER_THREADS, **env}, log)
    port = env["RASA_PORT"]
    services.wait_for(lambda: services.http_ok(f"http://127.0.0.1:{port}/webhooks/rest/health"), "Rasa", 300, proc)
    return proc


def profile_top(path: Path, n: int = 25) -> list[str]:
    """The ``n`` functions with most cumulative time in a cProfile dump, as text lines."""
    if not path.exists():
        return ["no profile written (server did not stop cleanly)"]
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumtime, tottime, calls, f"{Path(filename).name}:{line}({name})"))
    rows.sort(reverse=True)
    return [f"cum {c:7.2f}s self {t:6.2f}s calls {k:7d} {where}" for c, t, k, where in rows[:n]]


def train_ours(work: Path, logs: Path) -> dict[str, Any]:
    """Time ``rasa train`` of our project into a scratch folder with Rasa's shared cache."""
    args = [str(services.VENV_BIN / "rasa"), "train", "--config", "config.yml", "--domain", "bot/domain"]
    args += ["--data", *TRAINING_DATA, "--out", str(work / "models")]
    seconds = timed(args, services.ROOT, services.base_env(), logs / "train.log")
    return {"training_s": seconds, "training_note": "rasa train with Rasa's fingerprint cache (.rasa/cache)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer single-conversation turns")
    parser.add_argument("--profile", type=Path, help="run our Rasa server under cProfile, write the dump here")
    parser.add_argument("--workers", type=int, default=1, help="Sanic workers for our Rasa server")
    parser.add_argument("--skip-vanilla", action="store_true")
    parser.add_argument("--skip-train", action="store_true", help="do not time a training run of our bot")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument("--skip-history", action="store_true", help="no turn cost with a long history")
    parser.add_argument(
        "--history-sessions", type=int, default=300, help="earlier sessions of the long-history debtors"
    )
    parser.add_argument("--skip-scale", action="store_true", help="no KPI, dashboard, outreach or risk figures")
    parser.add_argument("--conversations", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--accounts", type=int, default=100_000, help="portfolio size for outreach and risk")
    parser.add_argument("--database-url", help="PostgreSQL URL (may create databases) for the scale figures")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="collections-bench-"))
    logs = work / "logs"
    logs.mkdir()
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "rasa": _rasa_version(),
        },
        "method": "REST /webhooks/rest/webhook; latency per turn; single = one conversation at a time; "
        "c20 = 20 conversations x 8 turns, c100 = 100 x 4 turns, closed loop",
    }
    try:
        with ExitStack() as stack:
            targets = []
            if not args.skip_vanilla:
                vanilla, vanilla_proc = stack.enter_context(vanilla_bot(work, logs))
                targets.append(vanilla)
            ours, (actions, rasa) = stack.enter_context(our_bot(work, logs, args.profile, args.workers))
            targets.append(ours)
            measure(targets, args.quick)
            if not args.skip_history:
                out["history"] = measure_history(ours, args.history_sessions, rounds=1 if args.quick else 3)
            ours.result["rasa_server_peak_rss_mb"] = peak_rss_mb(rasa.pid)
            ours.result["action_server_peak_rss_mb"] = peak_rss_mb(actions.pid)
            out["ours"] = ours.result
            if not args.skip_vanilla:
                vanilla.result["rasa_server_peak_rss_mb"] = peak_rss_mb(vanilla_proc.pid)
                out["vanilla"] = vanilla.result
        if args.profile:
            out["ours"]["profile_top"] = profile_top(args.profile)
        if not args.skip_train:
            out["ours"].update(train_ours(work, logs))
        if not args.skip_scale:
            from scripts import bench_scale

            out["scale"] = bench_scale.measure(args.conversations, args.accounts, work, args.database_url)
        if "vanilla" in out:
            out["ratios"], out["targets_met"] = _ratios(out["ours"], out["vanilla"])
        out.setdefault("targets_met", {}).update(_scale_targets(out))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        out["error"] = f"{exc} (logs in {logs})"
        args.keep = True
    finally:
        if args.keep:
            out["logs"] = str(logs)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 1 if "error" in out else 0


def _ratios(ours: dict[str, Any], vanilla: dict[str, Any]) -> tuple[dict[str, float], dict[str, bool]]:
    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    ratios = {
        "single_p50": ratio(ours["single"]["p50_ms"], vanilla["single"]["p50_ms"]),
        "single_p95": ratio(ours["single"]["p95_ms"], vanilla["single"]["p95_ms"]),
        "c20_throughput": ratio(ours["c20"]["throughput_msg_s"], vanilla["c20"]["throughput_msg_s"]),
        "c20_p95": ratio(ours["c20"]["p95_ms"], vanilla["c20"]["p95_ms"]),
        "c100_throughput": ratio(ours["c100"]["throughput_msg_s"], vanilla["c100"]["throughput_msg_s"]),
        "c100_p95": ratio(ours["c100"]["p95_ms"], vanilla["c100"]["p95_ms"]),
    }
    met = {
        "single_p50_at_most_1.5x_vanilla": ratios["single_p50"] <= TARGETS["p50_ratio_max"],
        "c20_throughput_at_least_1.0x_vanilla": ratios["c20_throughput"] >= TARGETS["throughput_c20_ratio_min"],
        "rasa_rss_under_2.5GB": ours["rasa_server_peak_rss_mb"] < TARGETS["rasa_rss_mb_max"],
    }
    return ratios, met


def _scale_targets(out: dict[str, Any]) -> dict[str, bool]:
    """The issue's acceptance figures that were measured in this run."""
    met: dict[str, bool] = {}
    history = out.get("history")
    if history:
        met["history_p50_within_1.3x"] = history["p50_ratio"] <= TARGETS["history_p50_ratio_max"]
    scale = out.get("scale") or {}
    largest = max((int(k) for k in (scale.get("analytics") or {}) if k.isdigit()), default=None)
    if largest is not None:
        figures = scale["analytics"][str(largest)]
        kpi = max(figures[k] for k in figures if k.startswith("kpi_") and k.endswith("_s") and not k.endswith("_cpu_s"))
        met[f"kpis_under_2s_at_{largest}"] = kpi < TARGETS["kpi_s_max"]
        met[f"dashboard_under_2s_at_{largest}"] = figures["dashboard_s"] < TARGETS["dashboard_s_max"]
    portfolio = scale.get("portfolio")
    if portfolio:
        n = portfolio["accounts"]
        met[f"outreach_2000_per_s_at_{n}"] = portfolio["outreach_accounts_per_s"] >= TARGETS["accounts_per_s_min"]
        met[f"risk_2000_per_s_at_{n}"] = portfolio["risk_accounts_per_s"] >= TARGETS["accounts_per_s_min"]
    return met


def _rasa_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("rasa")


if __name__ == "__main__":
    sys.exit(main())
