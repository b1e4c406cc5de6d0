"""Load for benchmarks and scale-out tests: synthetic debtors A-5300.. and concurrent REST
conversations that record each turn's latency and replies.

The debtors live in a fictional range (+1 773 555 01xx, Chicago; past the first hundred, the rest
of the 555 exchange) apart from the demo portfolio (A-1001.., A-5000..A-5239), so load never
touches accounts other tests use. ``debtor_script(account, variant)`` and ``vanilla_script``
give every conversation of a run its own wording, so no message repeats one an earlier
conversation sent (a repeated text reuses its cached sentence embedding, which real traffic
would not).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import aiohttp

from bot.money import Money
from bot.outreach.portfolio import PortfolioAccount

FIRST, LAST = 5300, 5399


def load_accounts(count: int = LAST - FIRST + 1) -> list[PortfolioAccount]:
    """A-5300 on: US-IL, balance $1,000.00 + n cents; the first hundred born in March 1980 (day
    1 + n mod 28) in ZIP 60614, later ones each on a day of their own in a ZIP of their own."""
    out = []
    for i in range(count):
        n = FIRST + i
        early = i < 100
        out.append(
            PortfolioAccount(
                id=f"A-{n}",
                full_name=f"Load Test {n}",
                phone=f"+177355501{i:02d}" if early else f"+1773555{100 + i:04d}",
                date_of_birth=date(1980, 3, 1 + i % 28) if early else date(1950, 1, 1) + timedelta(days=37 * i),
                postcode="60614" if early else f"6{i:04d}",
                last_four=f"{n:04d}",
                balance=Money(100_000 + i, "USD"),
                days_past_due=45,
                jurisdiction="US-IL",
                time_zone="America/Chicago",
            )
        )
    return out


def ensure_accounts(database_url: str, count: int = LAST - FIRST + 1) -> list[PortfolioAccount]:
    """Insert the first ``count`` load accounts into the system of record when missing; returns them."""
    from bot import db
    from bot.outreach.portfolio import load_into

    accounts = load_accounts(count)
    with db.session_scope(database_url) as session:
        load_into(session, accounts)
    return accounts


# the words around a message that make its wording new; no core starts or ends with one of them
PREFIXES = ("", "ok ", "so ", "um ", "well ", "right, ")
SUFFIXES = ("", "?", ".", " please", " thx", "!")
DEBTOR_CORES = (
    ("hi", "hello", "hey", "hi there", "hello there", "good morning", "good afternoon", "hey there"),
    (
        "{B} {d} {Y}",
        "{d} {B} {Y}",
        "{m}/{d}/{Y}",
        "{B} {d}, {Y}",
        "born {B} {d} {Y}",
        "{B} {d} {Y} is my birthday",
        "my date of birth is {B} {d} {Y}",
        "dob {m}/{d}/{Y}",
    ),
    (
        "{zip}",
        "zip {zip}",
        "my zip is {zip}",
        "it's {zip}",
        "{zip} is my zip",
        "zip code {zip}",
        "the zip is {zip}",
        "postcode {zip}",
    ),
    (
        "how much do I owe",
        "what's my balance",
        "what do I owe you",
        "how much is my balance",
        "tell me my balance",
        "what is the amount I owe",
        "how much money do I owe",
        "whats the balance on my account",
    ),
    (
        "why are you contacting me",
        "why are you texting me",
        "what is this about",
        "why did you message me",
        "what's this regarding",
        "why are you reaching out",
        "what do you want from me",
        "why are you getting in touch",
    ),
    (
        "thanks",
        "thank you",
        "thanks a lot",
        "thank you so much",
        "cheers",
        "great thanks",
        "thanks for that",
        "many thanks",
    ),
    (
        "how much is my balance again",
        "what was the balance again",
        "remind me how much I owe",
        "can you repeat the balance",
        "what's the amount again",
        "say the balance again",
        "how much did you say I owe",
        "what do I owe again",
    ),
    ("bye", "goodbye", "bye for now", "see you", "talk later", "gotta go bye", "bye now", "have a good day"),
)
VANILLA_CORES = (
    ("hi", "hello", "hey", "hi there", "hello there", "good morning", "good afternoon", "hey there"),
    (
        "I am sad",
        "I'm feeling down",
        "very sad",
        "I am unhappy",
        "I'm sad",
        "feeling low",
        "I am not happy",
        "not good",
    ),
    ("no", "nope", "not really", "no way", "never", "I don't think so", "no it did not", "absolutely not"),
    ("good evening", "hey bot", "hello again", "hi again", "greetings", "howdy", "yo", "hey hey"),
    ("great", "amazing", "feeling good", "I'm great", "wonderful", "perfect", "very good", "I am happy"),
    (
        "are you a bot",
        "am I talking to a bot",
        "are you a human",
        "are you real",
        "am I talking to a human",
        "is this a robot",
        "are you a machine",
        "is this an AI",
    ),
    ("yes", "yep", "sure", "of course", "indeed", "correct", "yes it did", "absolutely"),
    ("bye", "goodbye", "see you", "cu later", "have a nice day", "bye bye", "see you later", "goodnight"),
)
VARIANTS = len(PREFIXES) * len(SUFFIXES) * 8  # distinct wordings of each message


def _worded(core: str, variant: int) -> str:
    """``core`` with the prefix and suffix of ``variant``: distinct for distinct variants below
    :data:`VARIANTS` whatever the core (mixed radix: core, prefix, suffix)."""
    prefix = PREFIXES[(variant // 8) % len(PREFIXES)]
    suffix = SUFFIXES[(variant // (8 * len(PREFIXES))) % len(SUFFIXES)]
    return f"{prefix}{core}{suffix}"


def debtor_script(account: PortfolioAccount, variant: int | None = None) -> list[str]:
    """A verified conversation: greet, date of birth, ZIP, balance, purpose, thanks, bye. With
    ``variant`` (0 <= variant < :data:`VARIANTS`) every message is worded its own way, so the
    conversations of distinct variants share no text."""
    dob = account.date_of_birth
    if variant is None:
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
    if not 0 <= variant < VARIANTS:
        raise ValueError(f"variant must be in 0..{VARIANTS - 1}")
    values = {"B": f"{dob:%B}", "d": dob.day, "Y": dob.year, "m": dob.month, "zip": account.postcode}
    return [_worded(cores[variant % 8].format(**values), variant) for cores in DEBTOR_CORES]


VANILLA_SCRIPT = ["hi", "I am sad", "no", "hello", "great", "are you a bot?", "yes", "bye"]


def vanilla_script(variant: int) -> list[str]:
    """The vanilla ``rasa init`` bot's conversation (greet, unhappy, deny, greet, happy, bot
    challenge, affirm, goodbye) worded the ``variant`` way (0 <= variant < :data:`VARIANTS`)."""
    if not 0 <= variant < VARIANTS:
        raise ValueError(f"variant must be in 0..{VARIANTS - 1}")
    return [_worded(cores[variant % 8], variant) for cores in VANILLA_CORES]


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
