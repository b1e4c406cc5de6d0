"""Load for benchmarks and scale-out tests: synthetic debtors A-5300..A-5399 and concurrent REST
conversations that record each turn's latency and replies.

The debtors live in a fictional range (+1 773 555 01xx, Chicago) apart from the demo portfolio
(A-1001.., A-5000..A-5239), so load never touches accounts other tests use.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

from bot.money import Money
from bot.outreach.portfolio import PortfolioAccount

FIRST, LAST = 5300, 5399


def load_accounts() -> list[PortfolioAccount]:
    """A-5300..A-5399: US-IL, balance $1,000.00 + n cents, born in March 1980 (day 1 + n mod 28)"""
    return [
        PortfolioAccount(
            id=f"A-{n}",
            full_name=f"Load Test {n}",
            phone=f"+177355501{n - FIRST:02d}",
            date_of_birth=date(1980, 3, 1 + (n - FIRST) % 28),
            postcode="60614",
            last_four=f"{n:04d}",
            balance=Money(100_000 + n - FIRST, "USD"),
            days_past_due=45,
            jurisdiction="US-IL",
            time_zone="America/Chicago",
        )
        for n in range(FIRST, LAST + 1)
    ]


def ensure_accounts(database_url: str) -> list[PortfolioAccount]:
    """Insert A-5300..A-5399 into the system of record when missing; returns them."""
    from bot import db
    from bot.outreach.portfolio import load_into

    accounts = load_accounts()
    with db.session_scope(database_url) as session:
        load_into(session, accounts)
    return accounts


def debtor_script(account: PortfolioAccount) -> list[str]:
    """A verified conversation: greet, date of birth, ZIP, balance, purpose, thanks, bye."""
    dob = account.date_of_birth
    return [
        "hi",
        f"{dob:%B} {dob.day} {dob.year}",
        account.postcode,
        "how much do I owe",
        "why are you contacting me",
        "ok thanks",
        "how much is my balance again",
        "bye",
    ]


VANILLA_SCRIPT = ["hi", "I am sad", "no", "hello", "great", "are you a bot?", "yes", "bye"]


@dataclass
class Turn:
    """One message: who sent what, the bot's texts, HTTP status and latency in seconds."""

    sender: str
    text: str
    status: int
    replies: list[str]
    seconds: float


@dataclass
class Run:
    """Turns of a load run and its wall-clock duration in seconds."""

    turns: list[Turn] = field(default_factory=list)
    seconds: float = 0.0

    def latencies_ms(self) -> list[float]:
        return [t.seconds * 1000 for t in self.turns]

    def summary(self) -> dict[str, Any]:
        """messages, errors (non-200), throughput (messages/s), p50/p95/max latency in ms."""
        lat = sorted(self.latencies_ms())
        return {
            "messages": len(self.turns),
            "errors": sum(t.status != 200 for t in self.turns),
            "throughput_msg_s": round(len(self.turns) / self.seconds, 2) if self.seconds else None,
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "max_ms": round(lat[-1], 1) if lat else None,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank-interpolated percentile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1])


async def say(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> Turn:
    """POST one REST message and time it."""
    started = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text}) as resp:
        body = await resp.json(content_type=None) if resp.status == 200 else None
        status = resp.status
    replies = [m.get("text", "") for m in body or [] if isinstance(m, dict)]
    return Turn(sender, text, status, replies, time.perf_counter() - started)


async def conversations(
    urls: Sequence[str], scripts: dict[str, list[str]], pause_s: float = 0.0, timeout_s: float = 300
) -> Run:
    """Run every sender's script concurrently (one message at a time per sender), spreading
    senders over ``urls`` round-robin; ``pause_s`` between a reply and the next message."""
    run = Run()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:

        async def one(i: int, sender: str, script: list[str]) -> None:
            for text in script:
                run.turns.append(await say(session, urls[i % len(urls)], sender, text))
                if pause_s:
                    await asyncio.sleep(pause_s)

        started = time.perf_counter()
        await asyncio.gather(*(one(i, s, script) for i, (s, script) in enumerate(scripts.items())))
        run.seconds = time.perf_counter() - started
    return run
