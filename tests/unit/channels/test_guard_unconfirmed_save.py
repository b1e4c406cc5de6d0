"""A turn whose tracker save lost its connection may have been saved all the same (Redis ran the
command, then went away before answering). The debtor was told to try again; the repeat must get
that turn's answer, not be taken as the answer to the next question. Real Redis, the real tracker
and lock stores and the real channel guard; the Rasa turn is a small stand-in that asks for a date
of birth and then a ZIP, and counts a second date of birth as a mismatch as the real form does."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from unittest import mock

import redis
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels import guard
from channels.guard import TRY_AGAIN, handle_guarded
from stores.lock_store import AtomicRedisLockStore
from stores.redis_store import StrictRedisTrackerStore
from tests.conftest import Redis

DOB = "March 15 1980"
MINI_MIRANDA = "This is a debt collector."


class Bot:
    """A stand-in for ``Agent.handle_message`` over the real stores; ``lose_reply`` makes the next
    turn's save raise the error a dropped connection gives, after or before Redis wrote it."""

    def __init__(self, redis_server: Redis, db: int) -> None:
        self.store = StrictRedisTrackerStore(host="127.0.0.1", port=redis_server.port, db=db, key_prefix="unconf")
        self.store.red.flushdb()
        self.locks = AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port, db=db)
        self.app = SimpleNamespace(ctx=SimpleNamespace(agent=self))
        self.turns_processed = 0
        self.lose_reply: str | None = None  # "after_write" | "before_write"

    def is_ready(self) -> bool:
        return True

    @property
    def tracker_store(self) -> StrictRedisTrackerStore:
        return self.store

    @property
    def lock_store(self) -> AtomicRedisLockStore:
        return self.locks

    async def handle_message(self, message: UserMessage) -> None:
        async with self.locks.lock(message.sender_id):
            self.turns_processed += 1
            tracker = await self.store.retrieve(message.sender_id) or DialogueStateTracker(message.sender_id, [])
            given = [e.text for e in tracker.events if isinstance(e, UserUttered)]
            if not given:  # a session start: the disclosure comes first
                await message.output_channel.send_text_message(message.sender_id, MINI_MIRANDA)
                tracker.update(BotUttered(MINI_MIRANDA))
                reply = "Please tell me your date of birth."
            elif given.count(DOB) == 0:
                reply = "Thanks. Now please give your ZIP code." if message.text == DOB else "Sorry, not a date."
            elif message.text == DOB:
                reply = "Sorry, those details don't match. Please tell me your date of birth."
            else:
                reply = "Thanks, you're confirmed."
            tracker.update(UserUttered(message.text, message_id=message.message_id))
            tracker.update(BotUttered(reply))
            await message.output_channel.send_text_message(message.sender_id, reply)
            lose, self.lose_reply = self.lose_reply, None
            if lose == "before_write":
                with mock.patch.object(self.store, "_fenced_set", side_effect=redis.exceptions.ConnectionError("x")):
                    await self.store.save(tracker)
            await self.store.save(tracker)
            if lose == "after_write":
                raise redis.exceptions.ConnectionError("Connection closed by server.")

    def say(self, sender: str, text: str) -> list[str]:
        output = CollectingOutputChannel()
        message = UserMessage(text, output, sender, input_channel="rest")
        asyncio.run(handle_guarded(self.app, self.handle_message, message))
        return [m["text"] for m in output.messages]

    def date_of_birth_told_try_again(self, sender: str, lose: str) -> None:
        """Greet, then send the date of birth with the reply lost (``lose``, as ``lose_reply``)."""
        self.say(sender, "hi")
        self.lose_reply = lose
        assert self.say(sender, DOB) == [TRY_AGAIN]

    def user_texts(self, sender: str) -> list[str]:
        tracker = asyncio.run(self.store.retrieve(sender))
        return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_a_repeat_of_a_turn_saved_despite_the_error_gets_its_answer(redis_server: Redis) -> None:
    bot = Bot(redis_server, db=6)
    sender = "unconfirmed-after-write"
    assert bot.say(sender, "hi") == [MINI_MIRANDA, "Please tell me your date of birth."]
    bot.lose_reply = "after_write"
    assert bot.say(sender, DOB) == [TRY_AGAIN]
    processed = bot.turns_processed
    assert bot.say(sender, DOB) == ["Thanks. Now please give your ZIP code."]
    assert bot.turns_processed == processed  # answered from the saved turn, not processed again
    assert bot.say(sender, "60614") == ["Thanks, you're confirmed."]
    assert bot.user_texts(sender) == ["hi", DOB, "60614"]


def test_a_repeat_of_a_turn_whose_save_never_landed_is_processed(redis_server: Redis) -> None:
    bot = Bot(redis_server, db=6)
    sender = "unconfirmed-before-write"
    bot.date_of_birth_told_try_again(sender, "before_write")
    assert bot.user_texts(sender) == ["hi"]
    assert bot.say(sender, DOB) == ["Thanks. Now please give your ZIP code."]
    assert bot.user_texts(sender) == ["hi", DOB]


def test_a_different_message_after_the_error_is_processed_as_new(redis_server: Redis) -> None:
    bot = Bot(redis_server, db=6)
    sender = "unconfirmed-then-other"
    bot.date_of_birth_told_try_again(sender, "after_write")
    assert bot.say(sender, "60614") == ["Thanks, you're confirmed."]
    # a later identical text is an ordinary message again, not a replay
    assert bot.say(sender, DOB) == ["Sorry, those details don't match. Please tell me your date of birth."]
    assert bot.user_texts(sender) == ["hi", DOB, "60614", DOB]


def test_a_repeated_first_message_still_gets_the_disclosure(redis_server: Redis) -> None:
    bot = Bot(redis_server, db=6)
    sender = "unconfirmed-first"
    bot.lose_reply = "after_write"
    assert bot.say(sender, "hi") == [TRY_AGAIN]
    assert bot.say(sender, "hi") == [MINI_MIRANDA, "Please tell me your date of birth."]
    assert bot.user_texts(sender) == ["hi"]


def test_no_replay_once_the_conversation_moved_on_or_too_late(redis_server: Redis) -> None:
    bot = Bot(redis_server, db=6)
    for sender in ("unconfirmed-moved-on", "unconfirmed-late"):
        bot.date_of_birth_told_try_again(sender, "after_write")
    # a collector's message (or a new session) was added after the turn: the repeat is a new message
    tracker = asyncio.run(bot.store.retrieve("unconfirmed-moved-on"))
    tracker.update(BotUttered("A colleague here: can I help?"))
    asyncio.run(bot.store.save(tracker))
    assert bot.say("unconfirmed-moved-on", DOB) == [
        "Sorry, those details don't match. Please tell me your date of birth."
    ]
    # the debtor came back much later than "a few minutes"
    late = guard._unconfirmed_turns["unconfirmed-late"]
    guard._unconfirmed_turns["unconfirmed-late"] = dataclasses.replace(
        late, failed_at=late.failed_at - guard.UNCONFIRMED_TURN_TTL_S - 1
    )
    assert bot.say("unconfirmed-late", DOB) == ["Sorry, those details don't match. Please tell me your date of birth."]
