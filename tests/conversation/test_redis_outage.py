"""Redis outage: explicit "try again" answers and a failing health check, never a reply that has
forgotten the conversation; the conversation carries on once Redis is back."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import db
from channels.guard import TRY_AGAIN
from scripts import services
from tests.conftest import Bot, Redis


def test_outage_answers_try_again_and_keeps_context(bot: Bot, redis_server: Redis, db_session: Any) -> None:
    account = db_session.execute(select(db.Account).where(db.Account.id == "A-5000")).scalar_one()
    sender, dob, zip_code = account.debtor.phone_e164, account.debtor.date_of_birth, account.debtor.postcode
    assert bot.get("/webhooks/rest/health")[0] == 200
    bot.say(sender, "hi")
    bot.say(sender, dob.strftime("%B %d %Y"))
    assert "confirmed" in " ".join(bot.say(sender, zip_code))

    redis_server.stop()
    try:
        status, body = bot.get("/webhooks/rest/health")
        assert status == 503 and body["tracker_store"] is False
        during = bot.say(sender, "how much do I owe")
        assert during == [TRY_AGAIN]
    finally:
        redis_server.start()

    assert bot.get("/webhooks/rest/health")[0] == 200
    after = " ".join(bot.say(sender, "how much do I owe"))
    assert account.balance.format("en_US" if account.currency != "GBP" else "en_GB") in after, after


def test_server_refuses_to_start_without_redis(model: Path, work_dir: Path) -> None:
    dead_port = services.free_port()  # nothing listens here
    env = services.base_env(REDIS_PORT=str(dead_port), RASA_PORT=str(services.free_port()))
    log = work_dir / "no-redis.log"
    with pytest.raises(RuntimeError, match="exited with code"):
        proc = services.start_rasa_server(model, env, log=log)
        services.stop(proc)  # only reached if it wrongly started
    assert f"Redis tracker store at 127.0.0.1:{dead_port} is unreachable" in log.read_text()


def test_a_frozen_redis_gets_try_again_not_a_hang(bot: Bot, redis_server: Redis) -> None:
    """A Redis that keeps its connections open but stops answering (frozen, overloaded, cut off by
    the network) must not hang the server: every Redis command has a timeout (endpoints.yml)."""
    assert redis_server.proc is not None
    sender = "frozen-redis-1"
    assert bot.say(sender, "hi")  # connections to Redis are open and idle
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        during = bot.say(sender, "hello?")  # the client gives up after 60 s: a hang fails here
        status, body = bot.get("/webhooks/rest/health")
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert during == [TRY_AGAIN]
    assert status == 503 and body["tracker_store"] is False
    assert bot.get("/webhooks/rest/health")[0] == 200
    after = bot.say(sender, "hi")
    assert after and after != [TRY_AGAIN]
