"""Scale-out: two Rasa servers behind the round-robin proxy (scripts/proxy.py) sharing Redis for
trackers and locks. Fifty debtors (A-5300..A-5349) talk at once, every message to the other
replica, and then send bursts of messages without waiting for answers; every tracker must hold
each message once, each turn whole and in order, and no debtor may see a lock or store error."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from channels.guard import SOMETHING_WENT_WRONG, TRY_AGAIN
from scripts import loadgen, services
from tests.conftest import Bot, Redis

pytestmark = pytest.mark.slow
SCALE_DB = "5"  # Redis db of the replicas: the shared bot uses db 0
DEBTORS = 50
BURST = ["what is this about", "can you tell me my balance", "thanks for that"]


@dataclass
class Cluster:
    proxy_url: str
    replica_logs: list[Path]
    proxy: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def cluster(bot: Bot, model: Path, redis_server: Redis, database_url: str, work_dir: Path) -> Iterator[Cluster]:
    loadgen.ensure_accounts(database_url)
    procs: list[subprocess.Popen[bytes]] = []
    logs, backends = [], []
    try:
        for n in range(2):
            env = dict(bot.env, REDIS_DB=SCALE_DB, RASA_PORT=str(services.free_port()))
            logs.append(work_dir / "logs" / f"replica{n}.log")
            procs.append(services.start_rasa_server(model, env, log=logs[-1]))
            backends.append(f"--backend=http://127.0.0.1:{env['RASA_PORT']}")
        port = services.free_port()
        proxy = services._spawn(
            [str(services.VENV_BIN / "python"), "-m", "scripts.proxy", "--port", str(port), *backends],
            services.base_env(),
            work_dir / "logs" / "proxy.log",
        )
        procs.append(proxy)
        services.wait_for(lambda: services.http_ok(f"http://127.0.0.1:{port}/_proxy/stats"), "proxy", 30, proxy)
        yield Cluster(f"http://127.0.0.1:{port}", logs, proxy)
    finally:
        for proc in reversed(procs):
            services.stop(proc)


def _turns(events: list[dict[str, Any]]) -> list[tuple[str, list[str], list[str]]]:
    """(user text, bot texts, action names) for every user message, in tracker order. What the bot
    says when a session starts is logged just before the user message that started it: it is
    part of that message's answer."""
    turns: list[tuple[str, list[str], list[str]]] = []
    pending: list[str] = []  # bot texts after the last turn ended (session start)
    listening = True
    for event in events:
        if event["event"] == "user":
            turns.append((event["text"], pending, []))
            pending, listening = [], False
        elif event["event"] == "bot":
            (pending if listening else turns[-1][1]).append(event.get("text") or "")
        elif event["event"] == "action" and not listening:
            turns[-1][2].append(event["name"])
            listening = event["name"] == "action_listen"
    return turns


async def _burst(url: str, scripts: dict[str, list[str]]) -> list[loadgen.Turn]:
    """Every debtor sends all of its burst at once (10 ms apart), without waiting for answers."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:

        async def one(sender: str, texts: list[str]) -> list[loadgen.Turn]:
            tasks = []
            for text in texts:
                tasks.append(asyncio.ensure_future(loadgen.say(session, url, sender, text)))
                await asyncio.sleep(0.01)
            return list(await asyncio.gather(*tasks))

        results = await asyncio.gather(*(one(s, t) for s, t in scripts.items()))
    return [turn for turns in results for turn in turns]


def test_fifty_conversations_over_two_replicas_lose_nothing(cluster: Cluster, redis_server: Redis) -> None:
    accounts = loadgen.load_accounts()[:DEBTORS]
    scripts = {a.phone: loadgen.debtor_script(a)[:5] for a in accounts}
    url = cluster.proxy_url + "/webhooks/rest/webhook"
    ordered = asyncio.run(loadgen.conversations([url], scripts))
    burst = asyncio.run(_burst(url, {a.phone: BURST for a in accounts}))

    stats = json.loads(urllib.request.urlopen(cluster.proxy_url + "/_proxy/stats").read())
    assert min(stats["requests"]) >= len(ordered.turns + burst) // 2 - 1, stats  # both replicas served

    everything = ordered.turns + burst
    assert all(t.status == 200 for t in everything), [t for t in everything if t.status != 200][:3]
    errors = [t for t in everything if not t.replies or {TRY_AGAIN, SOMETHING_WENT_WRONG} & set(t.replies)]
    assert errors == [], errors[:3]

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=int(SCALE_DB))
    for account in accounts:
        raw = client.get(f"collections:tracker:{account.phone}")
        assert raw is not None, account.id
        turns = _turns(json.loads(raw)["events"])
        texts = [text for text, _, _ in turns]
        # the ordered part exactly in order, then the burst: each message once, none lost
        assert texts[:5] == scripts[account.phone], (account.id, texts)
        assert sorted(texts[5:]) == sorted(BURST), (account.id, texts)
        # every turn whole: ends listening, no other turn's actions inside it
        for text, _, actions in turns:
            assert actions and actions[-1] == "action_listen" and actions.count("action_listen") == 1, (text, actions)
        # each answer the debtor got is the bot part of its own turn (no crossed replies)
        answers = {t.text: t.replies for t in everything if t.sender == account.phone}
        for text, said, _ in turns:
            assert [r for r in answers[text] if r] == [s for s in said if s], (account.id, text, answers[text], said)
        # context carried across replicas: verified on the 3rd message, balance on the 4th
        joined = " ".join(answers[scripts[account.phone][3]])
        assert account.balance.format("en_US") in joined, (account.id, joined)
    for log in cluster.replica_logs:
        assert "LockError" not in log.read_text() and "lost before the tracker was saved" not in log.read_text()
