"""A Redis tracker store that refuses to start without Redis and keeps only the current
conversation session hot.

Rasa's stock behaviour wraps every tracker store in ``FailSafeTrackerStore``, which on a Redis
error returns an empty tracker and saves to memory: the debtor gets a reply that has forgotten
the conversation (RasaHQ/rasa#3243). This store pings at start-up; ``rasa_internals.apply``
makes run-time errors raise :class:`StoreUnavailable` instead.

Rasa's ``RedisTrackerStore`` keeps every session of a sender under one key, so each turn reads,
decodes and rewrites the debtor's whole history (at 300 earlier sessions a turn cost 1.1 s). With
the event log as event broker (``stores.event_broker.SQLEventLog`` in ``endpoints.yml``) this
store publishes each save's new events there first, with their positions in the conversation's
history, and keeps in Redis only the current session (what ``retrieve`` returns, what policies
and actions need) plus two numbers: ``offset``, the position of its first event, and ``logged``,
how many events the log holds. ``retrieve_full_tracker`` reads the earlier sessions back from
the log. An event is dropped from Redis only once the log holds it; a save whose publish failed
is published again by the next save, and one that lost its lock after publishing is replaced in
the log by the next holder's events. A tracker written by Rasa's own store (every session under
the key) moves to the log on its first save.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from rasa.core.brokers.broker import EventBroker
from rasa.core.lock_store import LockError
from rasa.core.tracker_store import RedisTrackerStore, TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_internals import StoreUnavailable, merge_trackers, primary_tracker_store
from stores.event_broker import SQLEventLog
from stores.lock_store import FENCED_SET, current_fence

logger = logging.getLogger(__name__)
DEFAULT_SOCKET_TIMEOUT_S = 3.0  # a Redis command normally answers in well under a millisecond


__all__ = ["StoreUnavailable", "StrictRedisTrackerStore", "redis_client", "remember_saved_trackers", "store_healthy"]

_saved_trackers: contextvars.ContextVar[dict[str, DialogueStateTracker] | None] = contextvars.ContextVar(
    "saved_trackers", default=None
)


@contextmanager
def remember_saved_trackers() -> Iterator[dict[str, DialogueStateTracker]]:
    """Within the block, each tracker :class:`StrictRedisTrackerStore` saves in this task is kept
    in the yielded dict (sender id → tracker as the processor left it), so a channel can look at
    the turn it just handled without loading and deserialising it again."""
    saved: dict[str, DialogueStateTracker] = {}
    token = _saved_trackers.set(saved)
    try:
        yield saved
    finally:
        _saved_trackers.reset(token)


class StrictRedisTrackerStore(RedisTrackerStore):
    """``RedisTrackerStore`` that pings Redis on creation and raises :class:`StoreUnavailable`.

    Configured in ``endpoints.yml`` as ``type: stores.redis_store.StrictRedisTrackerStore`` with
    the usual ``url`` (a host name, not a ``redis://`` URL), ``port``, ``db``, ``password``,
    ``socket_timeout`` (seconds, default :data:`DEFAULT_SOCKET_TIMEOUT_S`; a command that takes
    longer raises, and the channel answers "try again") and ``require_event_log`` (refuse to
    start when the event broker is not the event log; see the module docstring).
    """

    def __init__(
        self,
        domain: Any = None,
        host: str = "localhost",
        port: int | str = 6379,
        socket_timeout: float | str = DEFAULT_SOCKET_TIMEOUT_S,
        event_broker: EventBroker | None = None,
        require_event_log: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(domain, host=host, port=int(port), event_broker=event_broker, **kwargs)
        self.event_log = event_broker if isinstance(event_broker, SQLEventLog) else None
        if self.event_log is None and str(require_event_log).lower() in ("true", "1", "yes"):
            raise StoreUnavailable(
                "the tracker store needs the event log as event broker (endpoints.yml event_broker: "
                "type: stores.event_broker.SQLEventLog) and none was loaded: without it every session "
                "would stay in Redis and KPIs would not be kept"
            )
        # Rasa's client has no timeouts: a Redis that accepts connections but does not answer
        # (frozen, overloaded, a network partition) would block every conversation for good
        timeout = float(socket_timeout)
        self.red.connection_pool.connection_kwargs.update(socket_timeout=timeout, socket_connect_timeout=timeout)
        self._fenced_set = self.red.register_script(FENCED_SET)
        try:
            self.red.ping()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(
                f"Redis tracker store at {host}:{port} is unreachable ({exc}). "
                "Refusing to start: without it every conversation would lose its context. "
                "Start Redis or set REDIS_HOST / REDIS_PORT."
            ) from exc

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        """Save like ``RedisTrackerStore`` (merging with what is stored), publish the new events to
        the event broker, and keep only the current session in Redis when the event log holds the
        rest. Saves only while this task still holds the conversation's lock
        (``stores.lock_store``): a turn that outlived its lock raises ``LockError`` instead of
        overwriting the newer turn that took over."""
        remembered = _saved_trackers.get()
        if remembered is not None:
            remembered[tracker.sender_id] = tracker
        timeout = timeout or self.record_exp
        key = self.key_prefix + tracker.sender_id
        hot = await self._hot(tracker.sender_id, self.red.get(key))
        events = self.merged_events(tracker, hot)
        logged = await self._publish(tracker.sender_id, hot, events)
        serialised = json.dumps(_trimmed(tracker.sender_id, events, hot.offset, logged, self.event_log is not None))
        fence = current_fence(tracker.sender_id)
        if fence is None:
            self.red.set(key, serialised, ex=timeout)
            return
        saved = self._fenced_set(
            keys=[fence.queue, key],
            args=[fence.marker_prefix, fence.ticket, serialised, int(timeout or 0)],
        )
        if not saved:
            raise LockError(f"lock ticket {fence.ticket} lost before the tracker was saved; not saved")

    async def _hot(self, sender_id: str, stored: str | bytes | None) -> Hot:
        if stored is None:  # a new conversation, or Redis lost it: it goes on after what the log has
            start = 0
            if self.event_log is not None:
                start = await asyncio.get_running_loop().run_in_executor(None, self.event_log.stored_count, sender_id)
            return Hot(None, [], start, start)
        data = json.loads(stored)
        offset = int(data.get("offset") or 0)
        return Hot(stored, list(data.get("events") or []), offset, int(data.get("logged") or offset))

    def merged_events(self, tracker: DialogueStateTracker, hot: Hot) -> list[dict[str, Any]]:
        """The events Rasa's ``RedisTrackerStore.save`` would store for ``tracker`` when ``hot``
        is stored: ``tracker`` merged with it, so that what was stored is kept when ``tracker``
        holds only the latest session.

        Rasa's merge deserialises the stored tracker, replays both histories and compares every
        new event with every stored one. Two shapes cover nearly every turn and are recognised
        from the stored JSON instead (see :func:`_stored_overlap`); anything else goes through
        Rasa's merge."""
        events = [event.as_dict() for event in tracker.events]
        if hot.raw is None:
            return events
        start = _stored_overlap(hot.events, events)
        if start is not None:
            return hot.events[:start] + events
        stored = self.deserialise_tracker(tracker.sender_id, json.dumps({"events": hot.events}))
        merged = merge_trackers(self, stored, tracker)
        return [event.as_dict() for event in merged.events]

    async def _publish(self, sender_id: str, hot: Hot, events: list[dict[str, Any]]) -> int:
        """Publish the events the broker has not had; returns how many the event log now holds
        (the positions below it), or what it held before when publishing failed. The write to the
        event log runs in a worker thread: a database that is slow to take it (SQLite's one
        writer, a busy PostgreSQL) holds up this conversation, whose lock is held, not the
        server's other conversations."""
        if self.event_broker is None:
            return hot.logged
        # where the merged events stop agreeing with what is stored: normally all of it agrees
        agree = len(hot.events)
        if events[:agree] != hot.events:
            agree = next(i for i, (a, b) in enumerate(zip(events, hot.events, strict=False)) if a != b)
        start = min(hot.logged, hot.offset + agree)
        new = events[start - hot.offset :]
        if not new and start == hot.logged:
            return hot.logged
        if self.event_log is None:  # another broker (Kafka, RabbitMQ): Rasa's way, one event at a time
            for event in new:
                self.event_broker.publish({"sender_id": sender_id, **event})
            return start + len(new)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.event_log.publish_events, sender_id, start, new)
        except Exception as exc:  # noqa: BLE001 - the turn goes on; the next save publishes again
            logger.error(
                "event log not written for %s (kept in Redis, published with the next save): %s", sender_id, exc
            )
            return hot.logged
        return start + len(new)

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        """Every session of the conversation: the earlier ones from the event log, the current
        one from Redis (None when neither has any)."""
        stored = self.red.get(self.key_prefix + sender_id)
        hot = await self._hot(sender_id, stored)
        earlier: list[dict[str, Any]] = []
        if self.event_log is not None and hot.offset:
            loop = asyncio.get_running_loop()
            earlier = await loop.run_in_executor(None, self.event_log.read, sender_id, 0, hot.offset)
        if stored is None and not earlier:
            return None
        return self.deserialise_tracker(sender_id, json.dumps({"events": earlier + hot.events, "name": sender_id}))

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        """The latest session (``retrieve``) without deserialising the earlier sessions a tracker
        written by Rasa's own store may still hold, and without Rasa's second pass splitting a
        tracker that holds one session anyway."""
        if fetch_all_sessions:
            return await self.retrieve_full_tracker(sender_id)
        stored = self.red.get(self.key_prefix + sender_id)
        if stored is None:
            return None
        events = list(json.loads(stored).get("events") or [])
        cut = _last_session_start(events)
        if not cut:
            return self.deserialise_tracker(sender_id, stored)
        return self.deserialise_tracker(sender_id, json.dumps({"events": events[cut:], "name": sender_id}))

    def ping(self) -> bool:
        """True when Redis answers a PING."""
        try:
            return bool(self.red.ping())
        except redis.exceptions.RedisError:
            return False


class Hot:
    """What Redis holds for a conversation: the raw JSON (None: nothing), its events, the
    position of the first of them in the whole history, and how many events the log holds."""

    __slots__ = ("raw", "events", "offset", "logged")

    def __init__(self, raw: str | bytes | None, events: list[dict[str, Any]], offset: int, logged: int) -> None:
        self.raw, self.events, self.offset, self.logged = raw, events, offset, logged


def _last_session_start(events: list[dict[str, Any]]) -> int:
    """Index of the last ``action_session_start`` in ``events`` (0 when there is none): where
    Rasa's ``retrieve`` cuts the latest session (rasa.shared.core.trackers
    ``get_trackers_for_conversation_sessions``)."""
    for i in range(len(events) - 1, 0, -1):
        event = events[i]
        if event.get("event") == "action" and event.get("name") == "action_session_start":
            return i
    return 0


def _trimmed(sender_id: str, events: list[dict[str, Any]], offset: int, logged: int, trim: bool) -> dict[str, Any]:
    """The JSON kept in Redis: from the latest session on (when ``trim``), never dropping an
    event the log does not hold (positions from ``logged`` on)."""
    cut = min(_last_session_start(events), max(0, logged - offset)) if trim else 0
    return {"events": events[cut:], "name": sender_id, "offset": offset + cut, "logged": logged}


def _stored_overlap(stored: list[dict[str, Any]], events: list[dict[str, Any]]) -> int | None:
    """Where ``events`` (the tracker being saved, as dicts) begins in ``stored`` (the stored
    events), when the merge of the two is simply ``stored[:start] + events``; None otherwise.

    - ``0``: the stored events are the first events of ``events`` (a turn of a conversation whose
      history the processor holds whole).
    - ``start > 0``: the stored events end with the first events of ``events`` (the processor
      holds only the latest session; earlier sessions, or the ``session_started_metadata`` slot
      Rasa logs just before ``action_session_start``, are before ``start``).

    Either way the events not stored yet must each be later than every stored event and differ
    from each other. Rasa's merge then returns the tracker unchanged, or appends to the stored
    events each new event that differs from every event before it, which is the same list.
    """
    size = len(stored)
    if stored == events[:size]:
        start = 0
    elif not events:
        return None
    else:
        start = next((i for i in range(size - 1, 0, -1) if stored[i] == events[0]), 0)
        if not start or stored[start:] != events[: size - start]:
            return None
    new = events[size - start :]
    latest = max((event.get("timestamp") or 0 for event in stored), default=None)
    if latest is not None and any((event.get("timestamp") or 0) <= latest for event in new):
        return None
    if any(event == earlier for i, event in enumerate(new) for earlier in new[:i]):
        return None
    return start


def store_healthy(tracker_store: TrackerStore) -> bool:
    """Whether the primary tracker store answers (Redis PING); True for stores without ``ping``."""
    inner = primary_tracker_store(tracker_store)
    ping = getattr(inner, "ping", None)
    if ping is None:
        red = getattr(inner, "red", None)
        if red is None:
            return True
        try:
            return bool(red.ping())
        except redis.exceptions.RedisError:
            return False
    return bool(ping())


def redis_client(tracker_store: TrackerStore) -> redis.Redis | None:
    """The Redis connection behind the (fail-safe wrapped) tracker store, if it is a Redis one."""
    return getattr(primary_tracker_store(tracker_store), "red", None)
