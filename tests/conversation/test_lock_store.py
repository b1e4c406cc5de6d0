"""The atomic Redis lock store against a real Redis: mutual exclusion and arrival order across two
store instances (as two Rasa replicas), a bounded wait, expiry of a crashed holder, fencing."""

from __future__ import annotations

import asyncio

import pytest
from rasa.core.lock_store import LockError

from stores.lock_store import AtomicRedisLockStore, current_fence
from tests.conftest import Redis


def _stores(redis_server: Redis, **kwargs: float) -> list[AtomicRedisLockStore]:
    # db 3: away from the shared bot's db 0
    return [
        AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port, db=3, key_prefix="locktest", **kwargs)
        for _ in range(2)
    ]


def test_two_replicas_never_hold_one_conversation_at_once_and_keep_order(redis_server: Redis) -> None:
    stores = _stores(redis_server)
    holders: dict[str, int] = {}
    order: dict[str, list[int]] = {f"c{i}": [] for i in range(10)}
    overlaps: list[str] = []

    async def turn(conversation: str, n: int) -> None:
        async with stores[n % 2].lock(conversation):
            holders[conversation] = holders.get(conversation, 0) + 1
            if holders[conversation] > 1:
                overlaps.append(conversation)
            order[conversation].append(n)
            await asyncio.sleep(0.002)
            holders[conversation] -= 1

    async def main() -> None:
        tasks = []
        for n in range(20):
            for conversation in order:
                tasks.append(asyncio.ensure_future(turn(conversation, n)))
                await asyncio.sleep(0)  # issue tickets in a known order
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert overlaps == []
    assert all(seq == list(range(20)) for seq in order.values()), order
    assert stores[0].red.keys("locktest:lock:*:queue") == []  # nothing left behind


def test_waiting_is_bounded_and_a_crashed_holder_expires(redis_server: Redis) -> None:
    quick, other = _stores(redis_server, wait_timeout=0.3)

    async def main() -> None:
        async with quick.lock("stuck", lock_lifetime=30):
            with pytest.raises(LockError, match="waited more than"):
                async with other.lock("stuck"):
                    pass
        # a holder that never releases (process killed): its ticket expires after the lifetime
        seq, queue, markers = quick._keys("crashed")
        quick._issue(keys=[seq, queue], args=[markers, "200"])
        async with other.lock("crashed"):
            assert current_fence("crashed") is not None

    asyncio.run(main())


def test_a_holder_that_outlived_its_lock_cannot_save(redis_server: Redis) -> None:
    from stores.lock_store import FENCED_SET

    store = _stores(redis_server)[0]

    async def main() -> tuple[int, int]:
        async with store.lock("fenced", lock_lifetime=0.2):
            fence = current_fence("fenced")
            assert fence is not None
            args = [fence.marker_prefix, fence.ticket, "v", 0]
            ok = int(store.red.eval(FENCED_SET, 2, fence.queue, "locktest:value", *args))
            await asyncio.sleep(0.4)  # lifetime passes: another message may now take over
            late = int(store.red.eval(FENCED_SET, 2, fence.queue, "locktest:value", *args))
            return ok, late

    assert asyncio.run(main()) == (1, 0)
