"""The strict Redis tracker store against a real Redis: what it saves is what Rasa's own merge of
stored and new events would save, with and without the shortcuts that skip that merge; with the
event log, Redis keeps the current session and the log the rest, each event once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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
from stores.event_broker import SQLEventLog
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


# --- only the current session hot; earlier sessions in the event log ------------------------------


def _logged_store(redis_server: Redis, tmp_path: Path, prefix: str = "logtest") -> StrictRedisTrackerStore:
    log = SQLEventLog(url=f"sqlite:///{tmp_path / 'events.db'}")
    return StrictRedisTrackerStore(
        host="127.0.0.1", port=redis_server.port, db=4, key_prefix=prefix, event_broker=log, require_event_log=True
    )


def _history(sessions: int) -> list[list[Event]]:
    """What the processor holds at each save over ``sessions`` sessions of three turns: the
    latest session (from ``retrieve``), the next session appended when the last one expired."""
    held: list[list[Event]] = []
    for n in range(sessions):
        start = 10_000.0 + 1000 * n
        session = _session(start, f"hi {n}") + _turn(start + 10, f"a{n}") + _turn(start + 20, f"b{n}")
        previous = held[-1] if held else []  # the processor's tracker: the latest session only
        held += [previous + session[:10], session[1:14], session[1:18]]
    return held


def _log_rows(store: StrictRedisTrackerStore, sender: str) -> list[tuple[int, dict]]:
    from sqlalchemy import select

    from bot import db

    with db.session_scope(store.event_log.url) as session:
        rows = session.execute(
            select(db.EventRecord.position, db.EventRecord.data)
            .where(db.EventRecord.sender_id == sender)
            .order_by(db.EventRecord.id)
        ).all()
    return [(int(p), json.loads(d)) for p, d in rows]


def test_only_the_current_session_stays_in_redis(redis_server: Redis, tmp_path: Path) -> None:
    """Turn by turn over four sessions: Redis holds the latest session from its
    ``action_session_start`` (what Rasa's ``retrieve`` returns); the full tracker, read back with
    the event log, is what Rasa's store would have kept under the key; the log holds each event
    once, in order."""
    store = _logged_store(redis_server, tmp_path)
    sender = "four-sessions"
    store.red.delete(store.key_prefix + sender)
    everything: list[dict] = []

    async def main() -> None:
        for events in _history(4):
            tracker = DialogueStateTracker.from_events(sender, events)
            everything[:] = _merged_like_rasa(everything, tracker)
            await store.save(tracker)
            hot = json.loads(store.red.get(store.key_prefix + sender))
            assert hot["events"][0] in (everything[0], {**hot["events"][0], "name": "action_session_start"})
            assert everything[hot["offset"] :] == hot["events"] and hot["logged"] == len(everything)
            assert sum(e.get("name") == "action_session_start" for e in hot["events"]) <= 1
            full = await store.retrieve_full_tracker(sender)
            assert full is not None and _dicts(full) == everything
            latest = await store.retrieve(sender)
            assert latest is not None and _dicts(latest) == everything[_last_start(everything) :]
        rows = _log_rows(store, sender)
        assert [p for p, _ in rows] == list(range(len(everything)))
        assert [{k: v for k, v in d.items() if k != "sender_id"} for _, d in rows] == everything

    asyncio.run(main())


def _last_start(events: list[dict]) -> int:
    return max((i for i, e in enumerate(events) if e.get("name") == "action_session_start"), default=0)


def _merged_like_rasa(stored: list[dict], tracker: DialogueStateTracker) -> list[dict]:
    """Rasa's merge of the stored events (every session) with ``tracker``."""
    if not stored:
        return _dicts(tracker)
    prior = DialogueStateTracker.from_dict(tracker.sender_id, stored)
    return _dicts(RedisTrackerStore._merge_trackers(prior, tracker))


def test_what_a_turn_reads_and_writes_does_not_grow_with_history(redis_server: Redis, tmp_path: Path) -> None:
    """The bytes a turn reads from Redis and writes back are those of the current session, after
    2 or 60 earlier sessions alike."""
    store = _logged_store(redis_server, tmp_path, "growth")
    sizes: dict[int, int] = {}

    async def main() -> None:
        for sessions in (3, 60):
            sender = f"history-{sessions}"
            store.red.delete(store.key_prefix + sender)
            for events in _history(sessions):
                await store.save(DialogueStateTracker.from_events(sender, events))
            sizes[sessions] = len(store.red.get(store.key_prefix + sender))
            full = await store.retrieve_full_tracker(sender)
            assert full is not None and sum(isinstance(e, SessionStarted) for e in full.events) == sessions

    asyncio.run(main())
    assert abs(sizes[60] - sizes[3]) < 50, sizes  # only the offsets' digits differ


def test_a_tracker_rasas_store_wrote_moves_to_the_log_on_its_next_save(redis_server: Redis, tmp_path: Path) -> None:
    store = _logged_store(redis_server, tmp_path, "legacy")
    sender = "legacy"
    three = [e for n in range(3) for e in _session(20_000.0 + 1000 * n, f"hi {n}") + _turn(20_010.0 + 1000 * n, "x")]
    store.red.set(store.key_prefix + sender, json.dumps({"events": [e.as_dict() for e in three], "name": sender}))

    async def main() -> None:
        latest = await store.retrieve(sender)
        assert latest is not None and _dicts(latest) == [e.as_dict() for e in three[_last_start(_events(three)) :]]
        turn = _turn(30_000.0, "again")
        await store.save(DialogueStateTracker.from_events(sender, list(latest.events) + turn))
        expected = [e.as_dict() for e in three + turn]
        assert [
            d for _, d in ((p, {k: v for k, v in d.items() if k != "sender_id"}) for p, d in _log_rows(store, sender))
        ] == expected
        hot = json.loads(store.red.get(store.key_prefix + sender))
        assert hot["events"] == expected[_last_start(expected) :] and hot["logged"] == len(expected)

    asyncio.run(main())


def _events(events: list[Event]) -> list[dict]:
    return [e.as_dict() for e in events]


def test_a_failed_publish_keeps_the_events_hot_until_the_next_save(redis_server: Redis, tmp_path: Path) -> None:
    """The database refuses the events (table missing) from the second turn on, across a session
    change: every turn is still saved in Redis, and no event the log lacks is dropped there;
    the next save, with the table back, publishes what was missed and only then lets the earlier
    session go."""
    from bot import db

    store = _logged_store(redis_server, tmp_path, "heal")
    sender = "heal"
    store.red.delete(store.key_prefix + sender)
    held = _history(2)
    engine = db.get_engine(store.event_log.url)

    async def main() -> None:
        await store.save(DialogueStateTracker.from_events(sender, held[0]))
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE events RENAME TO events_away")
        for events in held[1:4]:  # the second session starts in the last of these
            await store.save(DialogueStateTracker.from_events(sender, events))
        hot = json.loads(store.red.get(store.key_prefix + sender))
        assert hot["logged"] == len(held[0]) and hot["offset"] <= hot["logged"]  # nothing unlogged dropped
        assert _last_start(hot["events"]) > 0  # both sessions still in Redis
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE events_away RENAME TO events")
        await store.save(DialogueStateTracker.from_events(sender, held[4]))
        hot = json.loads(store.red.get(store.key_prefix + sender))
        assert hot["offset"] > 0 and hot["logged"] == hot["offset"] + len(hot["events"])
        full = await store.retrieve_full_tracker(sender)
        assert full is not None
        assert [p for p, _ in _log_rows(store, sender)] == list(range(len(full.events)))

    asyncio.run(main())


def test_without_the_event_log_it_refuses_to_start_when_told_to(redis_server: Redis) -> None:
    """endpoints.yml sets ``require_event_log``: a broker Rasa could not load (it only warns)
    must not leave every session in Redis and the KPIs unfed."""
    import pytest

    from rasa_internals import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="event log"):
        StrictRedisTrackerStore(host="127.0.0.1", port=redis_server.port, require_event_log="true")
