"""A Redis ticket lock store that is safe across Rasa server replicas and never waits forever.

Rasa's ``RedisLockStore`` keeps each conversation's ticket lock as one JSON value that every
replica reads, changes and writes back: two replicas issuing tickets at the same moment overwrite
each other and both go ahead (RasaHQ/rasa#9213), and a waiter polls once a second with no upper
bound on its wait (RasaHQ/rasa#8756). Here every step is one atomic Lua script:

- ``issue``: ``INCR`` a per-conversation counter (the ticket), add it to a sorted set (the queue)
  and set a marker key that expires after the lock lifetime;
- ``acquire``: the lowest ticket in the queue whose marker still exists holds the lock (expired
  tickets of crashed processes are dropped); a waiter refreshes its own marker while it waits;
- ``release``: remove the ticket.

Messages of one conversation are therefore handled one at a time in arrival order on any replica.
A waiter gives up after ``wait_timeout`` seconds with ``LockError`` (the channel answers "try
again"). The holder's ticket is a fencing token: :func:`current_fence` lets the tracker store
refuse to save when the holder outlived its lock and another message took over
(``stores.redis_store.StrictRedisTrackerStore``), so a stale turn can never overwrite a newer one.

Configured in ``endpoints.yml`` as ``lock_store: type: stores.lock_store.AtomicRedisLockStore``
with ``url`` (a host name), ``port``, ``db``, ``password``, ``key_prefix``; lock and tracker
store must use the same Redis for fencing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME_S = float(os.environ.get("TICKET_LOCK_LIFETIME", 0) or 60)  # Rasa's default and variable
DEFAULT_WAIT_TIMEOUT_S = float(os.environ.get("LOCK_WAIT_TIMEOUT", 0) or 60)
POLL_START_S, POLL_MAX_S = 0.005, 0.05  # waiting is a short poll, not Rasa's 1 s sleep

# KEYS: counter, queue; ARGV: marker prefix, lifetime ms. Returns the new ticket.
_ISSUE = """
local t = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('ZADD', KEYS[2], t, t)
redis.call('PEXPIRE', KEYS[2], 86400000)
redis.call('SET', ARGV[1] .. t, 1, 'PX', ARGV[2])
return t
"""
# KEYS: queue; ARGV: marker prefix, ticket, lifetime ms. 1 = holds the lock, 0 = wait, -1 = expired.
_ACQUIRE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return -1 end
if redis.call('EXISTS', ARGV[1] .. ARGV[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return -1
end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == ARGV[2] then
    redis.call('SET', ARGV[1] .. ARGV[2], 1, 'PX', ARGV[3])
    return 1
  end
  if redis.call('EXISTS', ARGV[1] .. head) == 1 then
    redis.call('PEXPIRE', ARGV[1] .. ARGV[2], ARGV[3])
    return 0
  end
  redis.call('ZREM', KEYS[1], head)
end
"""
# KEYS: queue; ARGV: marker prefix, ticket
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 1
"""
# KEYS: queue, tracker key; ARGV: marker prefix, ticket, value, expiry s (0 = none). 1 = saved, 0 = fenced off.
FENCED_SET = """
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if head ~= ARGV[2] or redis.call('EXISTS', ARGV[1] .. ARGV[2]) == 0 then return 0 end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
else
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
"""


@dataclass(frozen=True)
class Fence:
    """The lock a message holds while it is processed: ``queue`` and ``marker_prefix`` are Redis
    keys, ``ticket`` the fencing token (increasing per conversation)."""

    conversation_id: str
    queue: str
    marker_prefix: str
    ticket: int


_fence: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("collections_lock_fence", default=None)


def current_fence(conversation_id: str) -> Fence | None:
    """The lock held for ``conversation_id`` by the running task, if any."""
    fence = _fence.get()
    return fence if fence is not None and fence.conversation_id == conversation_id else None


class AtomicRedisLockStore(LockStore):
    """FIFO ticket lock per conversation in Redis, atomic across replicas, with a bounded wait.

    Times are seconds: ``lock_lifetime`` (a holder's ticket expires that long after it got the
    lock, Rasa's TICKET_LOCK_LIFETIME, default 60) and ``wait_timeout`` (LOCK_WAIT_TIMEOUT,
    default 60). Raises ``LockError`` when the wait times out or Redis fails.
    """

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        host: str = "localhost",
        port: int | str = 6379,
        db: int | str = 0,
        password: str | None = None,
        key_prefix: str | None = None,
        wait_timeout: float | None = None,
        socket_timeout: float = 3,
        **_: Any,
    ) -> None:
        if endpoint_config is not None:
            kwargs = dict(endpoint_config.kwargs)
            host = endpoint_config.url or host
            port, db = kwargs.get("port", port), kwargs.get("db", db)
            password = kwargs.get("password", password)
            key_prefix = kwargs.get("key_prefix", key_prefix)
            wait_timeout = kwargs.get("wait_timeout", wait_timeout)
            socket_timeout = float(kwargs.get("socket_timeout", socket_timeout))
        self.red = redis.StrictRedis(
            host=host,
            port=int(port),
            db=int(db or 0),
            password=password or None,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )
        self.key_prefix = f"{key_prefix}:lock:" if key_prefix else "lock:"
        self.wait_timeout = float(wait_timeout or DEFAULT_WAIT_TIMEOUT_S)
        self._issue = self.red.register_script(_ISSUE)
        self._acquire = self.red.register_script(_ACQUIRE)
        self._release = self.red.register_script(_RELEASE)
        self._unreleased: list[tuple[str, str, int]] = []  # releases Redis refused (outage): retried
        super().__init__()

    def _keys(self, conversation_id: str) -> tuple[str, str, str]:
        base = self.key_prefix + conversation_id
        return base + ":seq", base + ":queue", base + ":t:"

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = DEFAULT_LIFETIME_S, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock for the body of the ``async with``; FIFO among waiters.

        ``wait_time_in_seconds`` (Rasa's poll interval) is ignored: polls start at 5 ms and back
        off to 50 ms. Raises ``LockError`` after ``wait_timeout`` s or on a Redis error.
        """
        seq, queue, markers = self._keys(conversation_id)
        lifetime_ms = str(int(lock_lifetime * 1000))
        self._retry_releases()
        try:
            ticket = int(self._issue(keys=[seq, queue], args=[markers, lifetime_ms]))
        except redis.exceptions.RedisError as exc:
            raise LockError(f"could not issue a lock ticket: {exc}") from exc
        token = None
        try:
            await self._wait(conversation_id, queue, markers, ticket, lifetime_ms)
            token = _fence.set(Fence(conversation_id, queue, markers, ticket))
            yield TicketLock(conversation_id)
        finally:
            if token is not None:
                _fence.reset(token)
            try:
                self._release(keys=[queue], args=[markers, ticket])
            except redis.exceptions.RedisError as exc:
                # Redis went away mid-turn; its data survives a restart, so release once it is
                # back rather than make the next message wait for the ticket to expire
                logger.warning("could not release lock ticket %d: %s", ticket, exc)
                self._unreleased.append((queue, markers, ticket))

    def _retry_releases(self) -> None:
        while self._unreleased:
            queue, markers, ticket = self._unreleased[0]
            try:
                self._release(keys=[queue], args=[markers, ticket])
            except redis.exceptions.RedisError:
                return
            self._unreleased.pop(0)

    async def _wait(self, conversation_id: str, queue: str, markers: str, ticket: int, lifetime_ms: str) -> None:
        deadline = time.monotonic() + self.wait_timeout
        delay = POLL_START_S
        while True:
            try:
                state = int(self._acquire(keys=[queue], args=[markers, ticket, lifetime_ms]))
            except redis.exceptions.RedisError as exc:
                raise LockError(f"could not acquire the lock: {exc}") from exc
            if state == 1:
                return
            if state == -1:
                raise LockError(f"lock ticket {ticket} expired while waiting")
            if time.monotonic() >= deadline:
                raise LockError(f"waited more than {self.wait_timeout:.0f} s for the conversation lock")
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    # Rasa's LockStore interface for code that inspects locks directly (not used by the server)
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """None: locks are not stored as Rasa ``TicketLock`` objects here."""
        return None

    def delete_lock(self, conversation_id: str) -> None:
        """Drop every ticket of the conversation (for operators clearing a stuck queue)."""
        self.red.delete(*self._keys(conversation_id)[:2])

    def save_lock(self, lock: TicketLock) -> None:
        """Not supported: tickets only change through :meth:`lock`."""
        raise NotImplementedError("AtomicRedisLockStore changes tickets only through lock()")
