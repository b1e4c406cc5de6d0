"""The strict Redis tracker store against a real Redis: what it saves is what Rasa's own merge of
stored and new events would save, with and without the single-session shortcut."""

from __future__ import annotations

import asyncio

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from stores.redis_store import StrictRedisTrackerStore, remember_saved_trackers
from tests.conftest import Redis


def _store(redis_server: Redis) -> StrictRedisTrackerStore:
    return StrictRedisTrackerStore(host="127.0.0.1", port=redis_server.port, db=4, key_prefix="storetest")


def _session(start: float, text: str) -> list:
    return [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start + 0.1),
        ActionExecuted("action_listen", timestamp=start + 0.2),
        UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=start + 0.3),
        SlotSet("verified", True, timestamp=start + 0.4),
        BotUttered("hello", timestamp=start + 0.5),
        ActionExecuted("action_listen", timestamp=start + 0.6),
    ]


def _dicts(tracker: DialogueStateTracker) -> list[dict]:
    return [e.as_dict() for e in tracker.events]


def test_each_turn_of_one_session_is_saved_whole(redis_server: Redis) -> None:
    store = _store(redis_server)

    async def main() -> None:
        events = _session(1000.0, "hi")
        for n in range(1, len(events) + 1):  # one save per event, as turns append
            await store.save(DialogueStateTracker.from_events("one-session", events[:n]))
            stored = store.red.get(store.key_prefix + "one-session")
            tracker = DialogueStateTracker.from_events("one-session", events[:n])
            assert store.merged_with_stored(tracker, stored) is tracker  # the shortcut applies
        saved = await store.retrieve_full_tracker("one-session")
        assert saved is not None and _dicts(saved) == [e.as_dict() for e in events]

    asyncio.run(main())


def test_a_tracker_with_only_the_latest_session_keeps_the_earlier_ones(redis_server: Redis) -> None:
    store = _store(redis_server)

    async def main() -> None:
        first, second = _session(1000.0, "hi"), _session(2000.0, "hello again")
        await store.save(DialogueStateTracker.from_events("two-sessions", first))
        # Rasa's retrieve returns the latest session only; the processor saves that tracker
        latest = DialogueStateTracker.from_events("two-sessions", second)
        stored = store.red.get(store.key_prefix + "two-sessions")
        expected = RedisTrackerStore._merge_trackers(store.deserialise_tracker("two-sessions", stored), latest)
        await store.save(latest)
        saved = await store.retrieve_full_tracker("two-sessions")
        assert saved is not None
        assert _dicts(saved) == _dicts(expected) == [e.as_dict() for e in first + second]

    asyncio.run(main())


def test_a_channel_can_see_the_tracker_its_turn_saved(redis_server: Redis) -> None:
    store = _store(redis_server)
    tracker = DialogueStateTracker.from_events("remembered", _session(3000.0, "hi"))

    async def main() -> None:
        await store.save(tracker)  # outside the block: nothing is kept
        with remember_saved_trackers() as saved:
            assert saved == {}
            await store.save(tracker)
        assert saved == {"remembered": tracker}

    asyncio.run(main())
