"""Scale-out as in production: two Rasa servers and an action server sharing Redis (trackers,
locks) and PostgreSQL (system of record, event log), behind HAProxy running the project's own
``deploy/haproxy/haproxy.cfg`` (round robin for webhooks, health checks on
``/webhooks/rest/health``, cookie-sticky socket.io). Fifty debtors (A-5300..A-5349) talk at once,
consecutive messages to different replicas, and then send bursts of messages without waiting for
answers; every tracker and the event log must hold each message once, each turn whole and in
order, and no debtor may see a lock or store error. A web chat session over socket.io long
polling stays on one replica."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from sqlalchemy import func, select

from bot import db, eventlog
from bot.analytics import ConversationRecord
from channels.guard import SOMETHING_WENT_WRONG, TRY_AGAIN
from scripts import loadgen, services
from tests.conftest import Bot, Postgres, Redis

pytestmark = pytest.mark.slow
SCALE_DB = "5"  # Redis db of the replicas: the shared bot uses db 0
DEBTORS = 50
BURST = ["what is this about", "can you tell me my balance", "thanks for that"]


@dataclass
class Cluster:
    url: str
    database_url: str
    replica_logs: list[Path]
    stats_socket: Path

    def served(self, backend: str) -> dict[str, int]:
        """Requests each server of ``backend`` answered so far (HAProxy's runtime API)."""
        return {
            row["svname"]: int(row["stot"])
            for row in services.haproxy_stats(self.stats_socket)
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
        }


@pytest.fixture(scope="module")
def cluster(bot: Bot, model: Path, redis_server: Redis, postgres_server: Postgres, work_dir: Path) -> Iterator[Cluster]:
    database = postgres_server.fresh_database()
    loadgen.ensure_accounts(database)
    env = dict(bot.env, REDIS_DB=SCALE_DB, DATABASE_URL=database, ACTION_PORT=str(services.free_port()))
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{env['ACTION_PORT']}/webhook"
    logs = work_dir / "logs"
    procs: list[subprocess.Popen[bytes]] = []
    replica_logs, backends = [], []
    stats_socket = Path(work_dir) / "haproxy.sock"
    try:
        procs.append(services.start_action_server(env, log=logs / "scale-actions.log"))
        for n in range(2):
            replica = dict(env, RASA_PORT=str(services.free_port()))
            replica_logs.append(logs / f"replica{n}.log")
            procs.append(services.start_rasa_server(model, replica, log=replica_logs[-1]))
            backends.append(f"127.0.0.1:{replica['RASA_PORT']}")
        port = services.free_port()
        procs.append(services.start_haproxy(port, backends, stats_socket, log=logs / "haproxy.log"))
        running = Cluster(f"http://127.0.0.1:{port}", database, replica_logs, stats_socket)

        def both_up() -> bool:
            rows = services.haproxy_stats(stats_socket)
            return sum(r["status"] == "UP" for r in rows if r["svname"] in ("rasa1", "rasa2")) == 4

        services.wait_for(both_up, "both replicas healthy behind HAProxy", 60)
        yield running
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
    url = cluster.url + "/webhooks/rest/webhook"
    before = cluster.served("rasa")
    ordered = asyncio.run(loadgen.conversations([url], scripts))
    burst = asyncio.run(_burst(url, {a.phone: BURST for a in accounts}))

    everything = ordered.turns + burst
    served = {k: v - before.get(k, 0) for k, v in cluster.served("rasa").items()}
    assert sum(served.values()) == len(everything) and min(served.values()) >= len(everything) // 2 - 1, served
    assert all(t.status == 200 for t in everything), [t for t in everything if t.status != 200][:3]
    errors = [t for t in everything if not t.replies or {TRY_AGAIN, SOMETHING_WENT_WRONG} & set(t.replies)]
    assert errors == [], errors[:3]

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=int(SCALE_DB))
    for account in accounts:
        raw = client.get(f"collections:tracker:{account.phone}")
        assert raw is not None, account.id
        hot = json.loads(raw)
        with db.session_scope(cluster.database_url) as session:
            logged = eventlog.read(session, account.phone)
            rows = session.execute(
                select(func.count(), func.sum(ConversationRecord.messages)).where(
                    ConversationRecord.sender_id == account.phone
                )
            ).one()
        # the event log is the whole conversation: what Redis holds is its end, nothing more or less
        assert logged[hot["offset"] :] == hot["events"] and hot["logged"] == len(logged), account.id
        assert tuple(rows) == (1, 8), (account.id, tuple(rows))  # one conversation of 8 messages
        turns = _turns(logged)
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
        text = log.read_text()
        assert "LockError" not in text and "lost before the tracker was saved" not in text
        assert "event log not written" not in text


def test_web_chat_stays_on_one_replica(cluster: Cluster) -> None:
    """socket.io long polling: the handshake and every later poll must reach the process holding
    the session; HAProxy's cookie keeps the client there, so the conversation works."""
    from tests.conversation.test_webchat import ChatClient

    before = cluster.served("rasa_socketio")

    async def scenario() -> list[str]:
        jar = aiohttp.CookieJar(unsafe=True)  # the load balancer's cookie, on a loopback address
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            client = ChatClient(cluster.url, http_session=http)
            session = await client.start()
            replies = await client.say("hello", session["token"])
            await client.sio.disconnect()
            return replies

    replies = asyncio.run(scenario())
    assert any("debt collector" in r for r in replies), replies
    served = {k: v - before.get(k, 0) for k, v in cluster.served("rasa_socketio").items()}
    assert sorted(served.values())[0] == 0 and sum(served.values()) >= 3, served  # all to one replica
