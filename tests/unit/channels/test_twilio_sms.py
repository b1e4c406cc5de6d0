"""The SMS input reads who a message is from once per turn: the account of the sender's phone and
the opt-out ledger, one query each, which the guard, the reply and the handoff check then share.
Real SMS channel, real Redis tracker and lock stores, a real SQLite system of record and the local
fake of Twilio's API; the Rasa turn is a stand-in that answers "hello" (the channel is under
test, not the model)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event

from bot import db
from bot.context import from_metadata
from bot.telephony import TwilioSettings
from channels.twilio_sms import TwilioSmsInput
from scripts import services
from stores.lock_store import AtomicRedisLockStore
from stores.redis_store import StrictRedisTrackerStore
from tests.conftest import Redis

TOKEN = "unit-test-token"
SID = "AC00000000000000000000000000000000"


class StandInAgent:
    """``Agent.handle_message`` over the real stores: one bot reply per message."""

    def __init__(self, redis_server: Redis) -> None:
        self.tracker_store = StrictRedisTrackerStore(host="127.0.0.1", port=redis_server.port, db=7, key_prefix="sms")
        self.tracker_store.red.flushdb()
        self.lock_store = AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port, db=7)
        self.contexts: list[Any] = []

    def is_ready(self) -> bool:
        return True

    async def handle_message(self, message: UserMessage) -> None:
        self.contexts.append(from_metadata(message.metadata))  # what policies and actions would read
        async with self.lock_store.lock(message.sender_id):
            tracker = await self.tracker_store.retrieve(message.sender_id) or DialogueStateTracker(
                message.sender_id, []
            )
            tracker.update(UserUttered(message.text, metadata=message.metadata))
            tracker.update(ActionExecuted("utter_greet"))
            tracker.update(BotUttered("Hello, how can I help?"))
            await message.output_channel.send_text_message(message.sender_id, "Hello, how can I help?")
            await self.tracker_store.save(tracker)


@pytest.fixture
def fake_twilio(tmp_path: Any) -> Iterator[dict[str, str]]:
    env = services.base_env(
        FAKE_TWILIO_PORT=str(services.free_port()),
        RASA_PORT=str(services.free_port()),
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
    )
    env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{env['FAKE_TWILIO_PORT']}"
    proc = services.start_fake_twilio(env, log=tmp_path / "fake_twilio.log")
    yield env
    services.stop(proc)


def _sent(env: dict[str, str]) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{env['TWILIO_API_BASE_URL']}/fake/messages", timeout=10) as resp:
        return list(json.loads(resp.read()))


def test_one_sms_turn_reads_the_account_and_the_opt_out_ledger_once(
    portfolio_database: str, redis_server: Redis, fake_twilio: dict[str, str]
) -> None:
    statements: list[str] = []
    engine = db.get_engine(portfolio_database)
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(str(args[2])))
    with db.session_scope() as session:
        phone = str(db.find_account(session, reference="A-1001").debtor.phone_e164)  # type: ignore[union-attr]
    statements.clear()

    agent = StandInAgent(redis_server)
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
    settings = TwilioSettings.from_env({**fake_twilio, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": SID})
    channel = TwilioSmsInput(settings)
    red = redis.Redis(host="127.0.0.1", port=redis_server.port, db=7)
    form = {"From": phone, "MessageSid": f"SM{uuid.uuid4().hex}", "Body": "hi there", "NumMedia": "0"}

    async def turn() -> None:
        await channel.handle_message(app, agent.handle_message, red, form)
        while channel.tasks:  # the reply goes out in the background
            await asyncio.gather(*list(channel.tasks))

    asyncio.run(turn())
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    account_reads = [s for s in reads if "FROM accounts" in s]
    ledger_reads = [s for s in reads if "FROM opt_outs" in s]
    assert len(account_reads) == 1, account_reads
    assert len(ledger_reads) == 1, ledger_reads
    # the context the turn carried is the sender's, and the reply reached them with the footer
    assert [(c.account_id, c.jurisdiction, c.channel) for c in agent.contexts] == [("A-1001", "US-MA", "sms")]
    replies = [m["body"] for m in _sent(fake_twilio) if m["to"] == phone]
    assert replies == ["Hello, how can I help? Reply STOP to opt out."]
