"""The ops queries (SQL over the analytics tables) give what the KPI definitions of ``bot.kpis``
give over the same conversations, on SQLite and PostgreSQL: KPI rows by every grouping and
scope, the review queue, the conversation list and transcripts read from the event log."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from bot import db, eventlog
from bot.kpis import COLUMNS, Promise, compute, conversations_from_tracker, low_confidence_messages, segment_for
from bot.nlu_review import record_review
from bot.ops import (
    Scope,
    conversation,
    conversation_list,
    conversations_of,
    kpi_report,
    review_copies,
    review_queue,
)
from tests.unit.bot.test_kpis import Events

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
INTENTS = [
    "greet", "ask_balance", "promise_to_pay", "request_payment_plan", "goodbye", "nlu_fallback", "deny", "out_of_scope",
]  # fmt: skip
TEXTS = ["hi", "how much", "i cn pay sum", "blorp", "12 april 1985", "ref A-1001", "bye", "what now", "  "]
CHANNELS = ["rest", "twilio_sms", "twilio_voice", "webchat"]
ACCOUNTS = {"A-1": 12, "A-2": 45, "A-3": 75, "A-4": 200, "A-5": 0}


def _session(rng: random.Random, e: Events) -> None:
    e.session()
    if rng.random() < 0.2:  # outreach: the bot's own trigger
        e.user("", "EXTERNAL_outreach", 1.0, channel="").action("action_outreach_message")
        if rng.random() < 0.5:
            return  # nobody answered
    channel = rng.choice(CHANNELS)
    for _ in range(rng.randint(1, 6)):
        intent = rng.choice(INTENTS)
        text = rng.choice(TEXTS) + (f" {rng.randint(1, 40)}" if rng.random() < 0.6 else "")  # some repeat
        e.user(text, intent, round(rng.uniform(0.2, 0.99), 2), channel=channel)
        roll = rng.random()
        if roll < 0.15:
            e.action("utter_default")
            if rng.random() < 0.3:
                e.action("action_default_fallback")
        elif roll < 0.25:
            e.slot("account_id", rng.choice(list(ACCOUNTS))).slot("identity_verified", True)
        elif roll < 0.3:
            e.slot("handoff_reason", rng.choice(["dispute", "crisis", "attorney"]))
        elif roll < 0.35:
            e.action("action_request_human")
        elif roll < 0.4:
            e.action("action_opt_out")
        elif roll < 0.5:
            e.action("action_offer_plans")
            if rng.random() < 0.5:
                e.slot("arrangement_id", rng.randint(1, 99))
        elif roll < 0.6:
            e.slot("csat_score", float(rng.randint(1, 5)))
        elif roll < 0.65:
            e.slot("identity_verified", False)
        elif roll < 0.72:  # a "did you mean" question: a fallback turn only about an nlu_fallback
            e.action("action_ask_clarification")
        elif roll < 0.8:  # the verification form asks; the next message answers an identity question
            e.slot("requested_slot", rng.choice(["account_reference", "date_of_birth", "second_factor", "ptp_date"]))
        elif roll < 0.84:
            e._add({"event": "active_loop", "name": None}).slot("requested_slot", None)
        e.action("action_listen")


def _dataset(seed: int = 7, senders: int = 40) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    trackers: dict[str, list[dict[str, Any]]] = {}
    for n in range(senders):
        e = Events(T0 + timedelta(hours=rng.randint(0, 24 * 20)))
        if rng.random() < 0.1:
            e.slot("session_started_metadata", {"channel": "rest"})  # before the first session start
        for _ in range(rng.randint(1, 4)):
            _session(rng, e)
            e.wait(rng.choice([3600 * 2, 3600 * 30, 3600 * 24 * 6]))
        trackers[f"{'ops' if n % 3 else 'other'}-{n:02d}"] = e.events
    return trackers


def _load(url: str, trackers: dict[str, list[dict[str, Any]]], seed: int = 3) -> list[Promise]:
    """Write the events to the event log in chunks of random size (as turns arrive), accounts for
    the segments, and promises with statuses; returns the promises as the KPIs see them."""
    rng = random.Random(seed)
    promises = []
    with db.session_scope(url) as session:
        for n, (account_id, dpd) in enumerate(ACCOUNTS.items()):
            session.add(
                db.Debtor(id=n + 1, full_name="T", date_of_birth=date(1980, 1, 1), phone_e164=f"+1555{n}", postcode="1")
            )
            session.flush()
            session.add(
                db.Account(
                    id=account_id, debtor_id=n + 1, balance_minor=1000, currency="USD", days_past_due=dpd,
                    jurisdiction="US-MA", time_zone="America/New_York", last_four="1234",
                )
            )  # fmt: skip
        for sender, events in trackers.items():
            start = 0
            while start < len(events):
                size = rng.randint(1, 12)
                eventlog.append(session, sender, start, events[start : start + size])
                start += size
            for _ in range(rng.randint(0, 2)):
                made = datetime.fromtimestamp(rng.choice(events)["timestamp"], tz=timezone.utc)
                status = rng.choice(["open", "kept", "broken", "cancelled"])
                session.add(
                    db.PromiseToPay(
                        account_id="A-1", amount_minor=100, currency="USD", due_date=date(2026, 12, 1), status=status,
                        channel="rest", conversation_id=sender, created_at=made,
                    )
                )  # fmt: skip
                promises.append(Promise(sender, made, status))
    return promises


def _expected(trackers: dict[str, list[dict[str, Any]]], scope: Scope) -> list[Any]:
    found = [
        c
        for sender, events in trackers.items()
        for c in conversations_from_tracker(sender, {"events": events})
        if (scope.since is None or c.started_at >= scope.since)
        and (not scope.sender_prefixes or c.sender_id.startswith(scope.sender_prefixes))
    ]
    return sorted(found, key=lambda c: c.started_at)


def _row(row: Any) -> tuple[Any, ...]:
    return (row.group, *(getattr(row, attr) for _, attr, _ in COLUMNS), dict(row.handoff_reasons))


@pytest.mark.parametrize("scope", [Scope(), Scope(("ops-",), T0 + timedelta(days=8))], ids=["all", "scoped"])
def test_kpi_queries_match_the_definitions(database: str, scope: Scope) -> None:
    trackers = _dataset()
    promises = _load(database, trackers)
    conversations = _expected(trackers, scope)
    assert len(conversations) > 20
    segments = {a: segment_for(d) for a, d in ACCOUNTS.items()}
    with db.session_scope(database) as session:
        for by in (None, "day", "channel", "segment"):
            expected = compute(conversations, promises, by=by, segments=segments)
            got = kpi_report(session, scope, by)
            assert [_row(r) for r in got] == pytest.approx([_row(r) for r in expected]), by
        with pytest.raises(ValueError, match="unknown grouping"):
            kpi_report(session, scope, "weekday")


def test_review_queue_list_and_transcripts_match(database: str) -> None:
    trackers = _dataset(seed=11, senders=25)
    _load(database, trackers)
    scope = Scope(since=T0 + timedelta(days=5))
    conversations = _expected(trackers, scope)
    with db.session_scope(database) as session:
        expected = low_confidence_messages(conversations, 0.7)
        queue, total = review_queue(session, scope, 0.7, limit=10)
        assert total == len(expected) and len(expected) > 10
        assert [(m.key, m.text, m.intent, m.ranking, m.count) for m in queue] == [
            (m.key, m.text, m.intent, m.ranking, m.count) for m in expected[:10]
        ]
        assert len({m.text for m in expected}) == len(expected) and max(m.count for m in expected) > 1
        # one row per text: labelling it takes every copy out of the queue
        repeated = next(m for m in review_queue(session, scope, 0.7, limit=1000)[0] if m.count > 1)
        copies = review_copies(session, scope, 0.7, repeated.text)
        assert len(copies) == repeated.count and repeated.key in copies
        for key in copies:
            record_review(session, key=key, text=repeated.text, intent="greet", reviewer="sam", file=None)
        session.flush()
        assert review_queue(session, scope, 0.7)[1] == total - 1
        assert review_queue(session, scope, 0.7, key=queue[1].key)[0] == [queue[1]]

        listed, count = conversation_list(session, scope, limit=5)
        assert count == len(conversations)
        assert [(c.sender_id, c.started_at, c.turns) for c in listed] == [
            (c.sender_id, c.started_at, len(c.messages))
            for c in sorted(conversations, key=lambda c: c.started_at, reverse=True)[:5]
        ]
        linked = next(c for c in conversations if c.account_id)
        found, _ = conversation_list(session, scope, linked.account_id.lower())
        assert {c.account_id for c in found} == {linked.account_id}

        for sender, events in list(trackers.items())[:8]:
            every = conversations_from_tracker(sender, {"events": events})
            stored = conversations_of(session, sender)
            assert [s.started_at for s in stored] == [c.started_at for c in every]
            for summary, whole in zip(stored, every, strict=True):
                assert conversation(session, summary).events == whole.events
                assert set(summary.handoff_reasons) == set(whole.handoff_reasons)


def test_answers_to_identity_questions_never_reach_the_review_queue(database: str) -> None:
    """Whatever NLU made of them and in whatever words, messages typed while the verification
    form asked for a date of birth, a second factor (postcode, last four) or an account reference
    stay out of the queue, also when the question and the answer reach the event log in different
    turns; the same words typed when no identity question is open are queued."""
    e = Events(T0 + timedelta(days=20)).session()
    e.user("hi", "greet").action("verification_form").slot("requested_slot", "date_of_birth").action("action_listen")
    e.user("march seventh in ninety nine", "nlu_fallback", 0.2).action("verification_form")
    e.slot("requested_slot", "second_factor").action("action_listen")
    e.user("its 80202 i think", "nlu_fallback", 0.3).action("verification_form")
    e._add({"event": "active_loop", "name": None}).slot("requested_slot", None).action("action_listen")
    e.user("its 80202 i think", "nlu_fallback", 0.3).action("utter_default").action("action_listen")
    e.user("what about the other thing", "nlu_fallback", 0.2).action("utter_default").action("action_listen")
    with db.session_scope(database) as session:
        for position, event in enumerate(e.events):  # one event per turn: the state must carry over
            eventlog.append(session, "id-answers", position, [event])
    conversations = conversations_from_tracker("id-answers", {"events": e.events})
    with db.session_scope(database) as session:
        queue, total = review_queue(session, Scope(), 0.7)
    texts = [m.text for m in queue]
    assert "march seventh in ninety nine" not in texts
    assert texts == ["what about the other thing", "its 80202 i think"] and total == 2
    # the later copy, typed with no question open, is the one queued (and only it)
    later = [x for x in e.events if x.get("text") == "its 80202 i think"][-1]
    assert queue[1].count == 1 and queue[1].at == datetime.fromtimestamp(later["timestamp"], tz=timezone.utc)
    assert [m.text for m in low_confidence_messages(conversations, 0.7)] == texts
