"""Faults while debtors are talking: Redis restarted in the middle of many conversations, the
action server down, Twilio failing. Accounts A-5350..A-5379 (inserted by scripts.loadgen)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from bot import db
from channels.guard import HOLDING_REPLY, TRY_AGAIN
from scripts import loadgen, services
from tests.conftest import Bot, Redis
from tests.conversation.test_twilio_sms import fake, post_sms, replies_to, sms

pytestmark = pytest.mark.slow
GREETING = "Hello, this is Example Lending."  # a conversation's first words (business name only)


@pytest.fixture(scope="module")
def accounts(database_url: str) -> dict[str, Any]:
    return {a.id: a for a in loadgen.ensure_accounts(database_url)}


async def _persistent_debtor(url: str, account: Any, log: list[loadgen.Turn]) -> None:
    """Follows the verified script; on "try again" waits and sends the same message again."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for text in loadgen.debtor_script(account)[:5]:
            for _ in range(30):
                turn = await loadgen.say(session, url, account.phone, text)
                log.append(turn)
                if turn.replies != [TRY_AGAIN]:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.2)


def test_redis_restart_mid_run_keeps_every_conversation_in_context(
    bot: Bot, redis_server: Redis, accounts: dict[str, Any]
) -> None:
    debtors = [accounts[f"A-{n}"] for n in range(5350, 5360)]
    log: list[loadgen.Turn] = []
    url = bot.base_url + "/webhooks/rest/webhook"

    def outage() -> None:
        # Redis goes away once the conversations are under way and comes back after some debtors
        # were told to try again (bounded waits: a slow machine only makes the outage longer)
        deadline = time.monotonic() + 120
        while len(log) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        redis_server.stop()
        deadline = time.monotonic() + 15
        while sum(t.replies == [TRY_AGAIN] for t in log) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        redis_server.start()

    restarter = threading.Thread(target=outage)
    restarter.start()

    async def main() -> None:
        await asyncio.gather(*(_persistent_debtor(url, a, log) for a in debtors))

    try:
        asyncio.run(main())
    finally:
        restarter.join()
        if redis_server.proc is None:
            redis_server.start()

    assert any(t.replies == [TRY_AGAIN] for t in log), "the outage should have been noticed by someone"
    for account in debtors:
        turns = [t for t in log if t.sender == account.phone]
        texts = [r for t in turns for r in t.replies]
        # a reply without context would greet again and ask for the date of birth
        assert sum(GREETING in r for r in texts) == 1, (account.id, texts)
        # "try again" is always alone: never mixed with an answer produced without context
        assert all(t.replies == [TRY_AGAIN] or TRY_AGAIN not in t.replies for t in turns)
        answered = [t for t in turns if t.replies != [TRY_AGAIN]]
        story = (account.id, [(t.text, t.replies) for t in turns])
        assert [t.text for t in answered] == loadgen.debtor_script(account)[:5], story
        assert "confirmed" in " ".join(answered[2].replies), story
        assert account.balance.format("en_US") in " ".join(answered[3].replies), story


def test_sms_during_redis_outage_gets_try_again_then_continues(
    bot: Bot, redis_server: Redis, accounts: dict[str, Any]
) -> None:
    account = accounts["A-5360"]
    phone = account.phone
    script = loadgen.debtor_script(account)
    for text in script[:3]:
        before = len(fake(bot, "/fake/messages"))
        assert post_sms(bot, sms(phone, text)) == 200
        assert replies_to(bot, phone, before)
    redis_server.stop()
    try:
        before = len(fake(bot, "/fake/messages"))
        assert post_sms(bot, sms(phone, "how much do I owe")) == 200
        during = replies_to(bot, phone, before)
        assert during and all(r.startswith(TRY_AGAIN) for r in during), during
    finally:
        redis_server.start()
    before = len(fake(bot, "/fake/messages"))
    assert post_sms(bot, sms(phone, "how much do I owe")) == 200
    after = " ".join(replies_to(bot, phone, before))
    assert account.balance.format("en_US") in after, after


def test_action_server_down_gets_a_holding_reply_and_an_error_logged(
    bot: Bot, accounts: dict[str, Any], db_session: Any
) -> None:
    account = accounts["A-5361"]
    dob = loadgen.debtor_script(account)[1]
    assert GREETING in " ".join(bot.say(account.phone, "hi"))
    # the action server among the processes the fixture started (their order changes as services are added)
    index = next(i for i, p in enumerate(bot.procs) if "actions" in [str(a) for a in p.args])
    actions = bot.procs[index]
    log = bot.logs / "rasa.log"
    log_size = log.stat().st_size
    services.stop(actions)
    try:
        during = bot.say(account.phone, dob)  # the verification form validates through the action server
        assert during and during[-1] == HOLDING_REPLY, during
        assert "failed for" in log.read_text()[log_size:]
    finally:
        bot.procs[index] = services.start_action_server(bot.env, log=bot.logs / "actions.log")
    # once it is back the conversation carries on where it was
    again = bot.say(account.phone, dob)
    assert HOLDING_REPLY not in again and GREETING not in " ".join(again)
    assert "confirmed" in " ".join(bot.say(account.phone, account.postcode))


def test_twilio_outage_longer_than_the_quick_retries_still_delivers(bot: Bot, accounts: dict[str, Any]) -> None:
    account = accounts["A-5362"]
    before = len(fake(bot, "/fake/messages"))
    # 6 failures outlast the quick retries (4 attempts); the reply waits in the outbox, then goes
    fake(bot, "/fake/fail", {"count": 6, "status": 503, "code": 20503})
    assert post_sms(bot, sms(account.phone, "hi")) == 200
    replies = replies_to(bot, account.phone, before, timeout=60)
    assert replies and GREETING in replies[0], replies
    with db.session_scope(bot.env["DATABASE_URL"]) as session:
        events = [
            r.event
            for r in session.execute(select(db.ContactLog).where(db.ContactLog.account_id == "A-5362")).scalars()
        ]
    assert "sms_reply" in events and "sms_retry_queued" in events, events
