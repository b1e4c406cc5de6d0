"""``make bench``: latency, throughput, memory and training time of the bot against a vanilla
``rasa init`` bot, measured in one run on this machine; prints one JSON object.

For each bot, over the REST channel: one conversation at a time (turn latency p50/p95), then 20
and 100 conversations at once (throughput in messages/s and p95). Our bot runs its full pipeline
(Redis tracker and lock stores, action server, SQLite system of record, send-time lint); the
vanilla bot is generated with ``rasa init --no-prompt`` into a temporary folder, trained there
and served with what ``rasa init`` gives (in-memory tracker and lock stores, no action server).
Memory is the peak resident set (VmHWM from /proc) of each server process tree.

    python -m scripts.bench [--quick] [--profile out.prof] [--workers N] [--skip-vanilla]

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
TARGETS = {"p50_ratio_max": 1.5, "throughput_c20_ratio_min": 1.0, "rasa_rss_mb_max": 2500}


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
        warm_up(url, "warm-up", loadgen.VANILLA_SCRIPT)

        def scripts_for(phase: str, n: int) -> dict[str, list[str]]:
            return {f"{phase}-{i}": list(loadgen.VANILLA_SCRIPT) for i in range(n)}  # new senders per phase

        target = Target("vanilla", url, scripts_for, reset=lambda: None, servers={"rasa": proc.pid})
        target.result.update(
            training_s=train_s,
            training_note="rasa init --no-prompt (trains the moodbot from an empty cache)",
            tracker_store="in-memory (rasa init default), in-memory lock store, no action server",
        )
        yield target, proc
    finally:
        services.stop(proc)


@contextmanager
def our_bot(
    work: Path, logs: Path, profile: Path | None, workers: int
) -> Iterator[tuple[Target, list[subprocess.Popen[bytes]]]]:
    """Serve our bot with its full pipeline on free ports, a private Redis and database.
    Yields the target and [action server, Rasa server]."""
    model = ensure_model()
    redis_port = services.free_port()
    database = f"sqlite:///{work / 'bench.db'}"
    accounts = loadgen.ensure_accounts(database)
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
        warm_up(url, "warm-up", ["hi", "how much do I owe", "I lost my job", "bye"])
        client = redis.Redis(host="127.0.0.1", port=redis_port)

        def scripts_for(phase: str, n: int) -> dict[str, list[str]]:
            return {a.phone: loadgen.debtor_script(a) for a in accounts[:n]}

        # senders are the debtors' phones: forget their conversations between phases
        target = Target(
            "ours",
            url,
            scripts_for,
            reset=client.flushdb,
            servers={"rasa": procs[-1].pid, "actions": procs[0].pid, "redis": red_proc.pid},
        )
        target.result.update(
            sanic_workers=workers,
            model=model.name,
            tracker_store="Redis (StrictRedisTrackerStore) + AtomicRedisLockStore, SQLite system of record",
        )
        yield target, procs
    finally:
        for proc in reversed(procs):
            services.stop(proc, timeout=60)
        services.stop(red_proc)


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
        if "vanilla" in out:
            out["ratios"], out["targets_met"] = _ratios(out["ours"], out["vanilla"])
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


def _rasa_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("rasa")


if __name__ == "__main__":
    sys.exit(main())
