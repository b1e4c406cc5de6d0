"""A Redis tracker store that refuses to start without Redis.

Rasa's stock behaviour wraps every tracker store in ``FailSafeTrackerStore``, which on a Redis
error returns an empty tracker and saves to memory: the debtor gets a reply that has forgotten
the conversation (RasaHQ/rasa#3243). This store pings at start-up; ``rasa_internals.apply``
makes run-time errors raise :class:`StoreUnavailable` instead.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from rasa.core.lock_store import LockError
from rasa.core.tracker_store import RedisTrackerStore, TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_internals import StoreUnavailable, merge_trackers, primary_tracker_store
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
    the usual ``url`` (a host name, not a ``redis://`` URL), ``port``, ``db``, ``password``, and
    ``socket_timeout`` (seconds, default :data:`DEFAULT_SOCKET_TIMEOUT_S`; a command that takes
    longer raises, and the channel answers "try again").
    """

    def __init__(
        self,
        domain: Any = None,
        host: str = "localhost",
        port: int | str = 6379,
        socket_timeout: float | str = DEFAULT_SOCKET_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(domain, host=host, port=int(port), **kwargs)
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
        """Save like ``RedisTrackerStore`` (merging with what is stored), but only while this task
        still holds the conversation's lock (``stores.lock_store``): a turn that outlived its lock
        raises ``LockError`` instead of overwriting the newer turn that took over."""
        await self.stream_events(tracker)
        remembered = _saved_trackers.get()
        if remembered is not None:
            remembered[tracker.sender_id] = tracker
        timeout = timeout or self.record_exp
        key = self.key_prefix + tracker.sender_id
        stored = self.red.get(key)
        serialised = self.serialised_with_stored(tracker, stored)
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

    def serialised_with_stored(self, tracker: DialogueStateTracker, stored: str | bytes | None) -> str:
        """The JSON that Rasa's ``RedisTrackerStore.save`` writes for ``tracker`` when ``stored``
        (the serialised tracker in Redis, or None) is there: ``tracker`` merged with it, so that
        earlier conversation sessions are kept when ``tracker`` holds only the latest one.

        Rasa's merge deserialises the stored tracker, replays both histories and compares every
        new event with every stored one. Two shapes cover nearly every turn and are recognised
        from the stored JSON instead (see :func:`_stored_overlap`); anything else goes through
        Rasa's merge.
        """
        if stored is None:
            return self.serialise_tracker(tracker)
        stored_events = json.loads(stored).get("events") or []
        events = [event.as_dict() for event in tracker.events]
        start = _stored_overlap(stored_events, events)
        if start is not None:
            return json.dumps({"events": stored_events[:start] + events, "name": tracker.sender_id})
        merged = merge_trackers(self, self.deserialise_tracker(tracker.sender_id, stored), tracker)
        return self.serialise_tracker(merged)

    def ping(self) -> bool:
        """True when Redis answers a PING."""
        try:
            return bool(self.red.ping())
        except redis.exceptions.RedisError:
            return False


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
