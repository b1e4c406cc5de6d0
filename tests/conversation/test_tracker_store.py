"""The strict Redis tracker store against a real Redis: what it saves is what Rasa's own merge of
stored and new events would save, with and without the shortcuts that skip that merge."""

from __future__ import annotations

import asyncio
import json

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.constants import SESSION_START_METADATA_SLOT
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from stores import redis_store
from stores.redis_store import StrictRedisTrackerStore, remember_saved_trackers
from tests.conftest import Redis

META = {"model_id": "m1", "assistant_id": "collections-agent"}


def _store(redis_server: Redis) -> StrictRedisTrackerStore:
    return StrictRedisTrackerStore(host="127.0.0.1", port=redis_server.port, db=4, key_prefix="storetest")


def _session(start: float, text: str) -> list[Event]:
    """A session as the processor logs it: the metadata slot, then ``action_session_start``."""
    return [
        SlotSet(SESSION_START_METADATA_SLOT, {"channel": "rest"}, timestamp=start, metadata=META),
        ActionExecuted("action_session_start", timestamp=start + 0.1, metadata=META),
        SessionStarted(timestamp=start + 0.2, metadata=META),
        ActionExecuted("action_listen", timestamp=start + 0.3, metadata=META),
        UserUttered(
            text,
            {"name": "greet", "confidence": 1.0},
            [{"entity": "amount", "value": "50", "start": 0, "end": 2}],
            parse_data={"intent_ranking": [{"name": "greet", "confidence": 1.0}]},
            timestamp=start + 0.4,
            message_id=f"m{start}",
            metadata=META,
        ),
        ActionExecuted("verification_form", policy="RulePolicy", confidence=1.0, timestamp=start + 0.5),
        ActiveLoop("verification_form", timestamp=start + 0.6),
        SlotSet("requested_slot", "date_of_birth", timestamp=start + 0.7),
        BotUttered("hello", {"buttons": [{"title": "a", "payload": "/a"}]}, timestamp=start + 0.8),
        ActionExecuted("action_listen", timestamp=start + 0.9),
    ]


def _turn(start: float, text: str) -> list[Event]:
    return [
        UserUttered(text, {"name": "inform", "confidence": 0.9}, timestamp=start, message_id=f"t{start}"),
        SlotSet("verified", True, timestamp=start + 0.1),
        BotUttered(f"you said {text}", timestamp=start + 0.2),
        ActionExecuted("action_listen", timestamp=start + 0.3),
    ]


def _dicts(tracker: DialogueStateTracker) -> list[dict]:
    return [e.as_dict() for e in tracker.events]


def _rasa_would_save(store: StrictRedisTrackerStore, tracker: DialogueStateTracker) -> list[dict]:
    """The events Rasa's ``RedisTrackerStore.save`` would write for ``tracker`` now."""
    stored = store.red.get(store.key_prefix + tracker.sender_id)
    if stored is None:
        return _dicts(tracker)
    merged = RedisTrackerStore._merge_trackers(store.deserialise_tracker(tracker.sender_id, stored), tracker)
    return _dicts(merged)


def _stored(store: StrictRedisTrackerStore, sender: str) -> list[dict]:
    return json.loads(store.red.get(store.key_prefix + sender))["events"]


def test_every_turn_saves_what_rasas_merge_saves(redis_server: Redis) -> None:
    """Two sessions turn by turn, as the processor holds them: Rasa's ``retrieve`` returns the
    latest session from its ``action_session_start`` (without the metadata slot logged just before
    it), and a new session is appended to that. Every save must equal Rasa's merge, and none
    needs the merge itself."""
    store = _store(redis_server)
    sender = "two-sessions"
    store.red.delete(store.key_prefix + sender)
    first = _session(1000.0, "hi") + _turn(1001.0, "a") + _turn(1002.0, "b")
    second = _session(2000.0, "hello again") + _turn(2001.0, "c") + _turn(2002.0, "d")
    held = [first[:10], first[1:14], first[1:18], first[1:] + second[:10], second[1:14], second[1:18]]
    merges = 0
    real_merge = RedisTrackerStore._merge_trackers

    def counting_merge(*args: object) -> DialogueStateTracker:
        nonlocal merges
        merges += 1
        return real_merge(*args)  # type: ignore[arg-type]

    async def main() -> None:
        for events in held:
            tracker = DialogueStateTracker.from_events(sender, events)
            expected = _rasa_would_save(store, tracker)
            await store.save(tracker)
            assert _stored(store, sender) == expected
        saved = await store.retrieve_full_tracker(sender)
        assert saved is not None and _dicts(saved) == [e.as_dict() for e in first + second]

    store._merge_trackers = counting_merge  # type: ignore[method-assign]
    asyncio.run(main())
    assert merges == 0


def test_shapes_the_shortcut_must_leave_to_rasas_merge(redis_server: Redis) -> None:
    store = _store(redis_server)
    first = _session(1000.0, "hi") + _turn(1001.0, "a")
    cases = {
        # the tracker lost an event the store has (a stale tracker): merge, keep both
        "stale": (first, first[1:6] + first[7:]),
        # new events not later than what is stored (clock skew between replicas)
        "skewed": (first, first[1:] + _turn(1000.5, "late")),
        # a new event identical to a stored one
        "repeat": (first, first[1:] + first[-1:]),
        # the same shapes when the processor holds the whole history
        "whole-skewed": (first, first + _turn(1000.5, "late")),
        "whole-repeat": (first, first + first[-1:]),
        "whole-twice": (first, first + [SlotSet("x", 1, timestamp=1500.0)] * 2),
    }

    async def main() -> None:
        for sender, (stored_events, events) in cases.items():
            store.red.delete(store.key_prefix + sender)
            await store.save(DialogueStateTracker.from_events(sender, stored_events))
            stored = _stored(store, sender)
            assert redis_store._stored_overlap(stored, [e.as_dict() for e in events]) is None, sender
            tracker = DialogueStateTracker.from_events(sender, events)
            expected = _rasa_would_save(store, tracker)
            await store.save(tracker)
            assert _stored(store, sender) == expected, sender

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
