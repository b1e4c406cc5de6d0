"""Analytics tables kept as conversation events arrive, so KPIs, the dashboard, the review queue
and the conversation list are SQL aggregations over indexed tables instead of a scan of every
stored tracker.

One row of ``analytics_conversations`` per conversation session of a sender, reduced as
:func:`bot.kpis.conversation_from_events` reduces a session (the definitions live there): the
session split of :func:`bot.kpis.split_sessions`, the first debtor message's channel, the last
account linked, RPC, handoff, opt-out, plans offered, arrangement accepted, CSAT and fallback
turns. ``analytics_messages`` holds each debtor message with what NLU made of it (the review
queue); ``analytics_handoff_reasons`` the handoff reasons per conversation. Rows carry the
positions of their events in the event log (``bot.db.EventRecord``), where the transcript is.

:func:`project` applies a conversation's new events (called by the event log in the same
transaction as it stores them); :func:`rebuild` empties the tables and replays the whole event log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Session

from bot import db
from bot.kpis import (
    EXTERNAL_PREFIX,
    FALLBACK_INTENT,
    OFFER_PLANS_ACTION,
    OPT_OUT_ACTION,
    OUT_OF_SCOPE_INTENT,
    REQUEST_HUMAN_ACTION,
    SESSION_START,
    is_fallback_turn,
)
from bot.logmask import carries_personal_data
from bot.nlu_review import IDENTITY_SLOTS

MAX_TEXT = 2000  # characters of a debtor message kept for the review queue


class ConversationRecord(db.Base):  # type: ignore[misc]
    """One conversation session (see the module docstring). Times are aware UTC; ``day`` is the
    UTC date it started; ``messages`` counts debtor messages (0: not a conversation for the KPIs,
    e.g. an outreach nobody answered); ``user_events`` counts every user event, the bot's own
    ``EXTERNAL_`` triggers included (a session start cuts a new row only after one)."""

    __tablename__ = "analytics_conversations"
    id = Column(db.BigKey, primary_key=True)
    sender_id = Column(String(255), nullable=False)
    first_position = Column(Integer, nullable=False)
    last_position = Column(Integer, nullable=False)
    started_at = Column(DateTime(timezone=True), nullable=False)  # indexed first in ix_…_kpi
    ended_at = Column(DateTime(timezone=True), nullable=False)
    day = Column(Date, nullable=False)
    channel = Column(String(32), nullable=True)
    account_id = Column(String(16), nullable=True)
    user_events = Column(Integer, nullable=False, default=0)
    messages = Column(Integer, nullable=False, default=0)
    rpc = Column(Boolean, nullable=False, default=False)
    handoff = Column(Boolean, nullable=False, default=False)
    opted_out = Column(Boolean, nullable=False, default=False)
    plans_offered = Column(Boolean, nullable=False, default=False)
    arrangement_accepted = Column(Boolean, nullable=False, default=False)
    csat = Column(Integer, nullable=True)
    fallbacks = Column(Integer, nullable=False, default=0)
    fallback_turn = Column(Integer, nullable=False, default=-1)  # last debtor turn counted as a fallback
    # carried from one turn's events to the next: the intent of the last debtor message (a
    # clarification question about an nlu_fallback is a fallback turn) and the form question
    # open (requested_slot: a message answering an identity question is personal)
    last_intent = Column(String(64), nullable=True)
    open_question = Column(String(64), nullable=True)
    # debtor messages understood (bot.kpis): NULL on rows projected before it was counted
    understood = Column(Integer, nullable=True)
    __table_args__ = (
        Index("ix_analytics_conversations_sender_id_first_position", "sender_id", "first_position", unique=True),
        # everything a KPI report reads, so a report scans this index and never the table
        Index(
            "ix_analytics_conversations_kpi",
            "started_at",
            "messages",
            "day",
            "channel",
            "account_id",
            "rpc",
            "handoff",
            "plans_offered",
            "arrangement_accepted",
            "opted_out",
            "fallbacks",
            "csat",
        ),
    )


class HandoffReasonRecord(db.Base):  # type: ignore[misc]
    """A reason a conversation went to a person (a ``handoff_reason`` slot value, or
    "requested" when ``action_request_human`` ran), with its conversation's start (which never
    changes), so a report reads only the reasons of its period."""

    __tablename__ = "analytics_handoff_reasons"
    id = Column(db.BigKey, primary_key=True)
    conversation_id = Column(db.BigKey, ForeignKey("analytics_conversations.id"), nullable=False)
    reason = Column(String(32), nullable=False)
    started_at = Column(DateTime(timezone=True), nullable=False, index=True)
    __table_args__ = (
        Index("ix_analytics_handoff_reasons_conversation_id_reason", "conversation_id", "reason", unique=True),
    )


class MessageRecord(db.Base):  # type: ignore[misc]
    """One debtor message: ``key`` as :attr:`bot.kpis.UserMessage.key`, the text (at most
    :data:`MAX_TEXT` characters), the top intent and its confidence (0-1), the intent ranking
    (JSON list of [name, confidence]), the input channel, and ``personal`` when the text holds a
    full date, phone number or account reference, or was sent while an identity question of the
    verification form was open (``bot.nlu_review.IDENTITY_SLOTS``: a date of birth, a postcode,
    the last four digits, in whatever words): never offered for labelling."""

    __tablename__ = "analytics_messages"
    id = Column(db.BigKey, primary_key=True)
    conversation_id = Column(db.BigKey, ForeignKey("analytics_conversations.id"), nullable=False, index=True)
    sender_id = Column(String(255), nullable=False)
    key = Column(String(300), nullable=False, index=True)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    text = Column(Text, nullable=False)
    intent = Column(String(64), nullable=False)
    confidence = Column(Float, nullable=False)
    ranking = Column(Text, nullable=False, default="[]")
    channel = Column(String(32), nullable=False)
    personal = Column(Boolean, nullable=False, default=False)


def storable(text: str) -> str:
    """``text`` as every database takes it: NUL (which PostgreSQL refuses in text) and lone
    surrogates (which cannot be encoded as UTF-8) become U+FFFD. Sender ids and message texts go
    through this; whole events are stored as ASCII JSON, which keeps them exactly."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class ConversationState:
    """A conversation row being built, as plain data (see :class:`ConversationRecord`)."""

    sender_id: str
    first_position: int
    last_position: int
    started_at: datetime
    ended_at: datetime
    channel: str | None = None
    account_id: str | None = None
    user_events: int = 0
    messages: int = 0
    rpc: bool = False
    reasons: list[str] = field(default_factory=list)
    opted_out: bool = False
    plans_offered: bool = False
    arrangement_accepted: bool = False
    csat: int | None = None
    fallbacks: int = 0
    fallback_turn: int = -1
    last_intent: str | None = None
    open_question: str | None = None
    understood: int = 0
    new_messages: list[dict[str, Any]] = field(default_factory=list)  # not yet stored
    new_reasons: list[str] = field(default_factory=list)  # not yet stored
    record_id: int | None = None

    @classmethod
    def starting(cls, sender_id: str, position: int, event: dict[str, Any]) -> ConversationState:
        """A new conversation whose first event is ``event`` at ``position``."""
        at = _at(event)
        return cls(sender_id, position, position, at, at)

    @classmethod
    def from_record(cls, row: ConversationRecord, reasons: Sequence[str]) -> ConversationState:
        """The state of a stored row (``reasons``: its stored handoff reasons)."""
        return cls(
            sender_id=str(row.sender_id),
            first_position=int(row.first_position),
            last_position=int(row.last_position),
            started_at=_aware(row.started_at),
            ended_at=_aware(row.ended_at),
            channel=row.channel,
            account_id=row.account_id,
            user_events=int(row.user_events),
            messages=int(row.messages),
            rpc=bool(row.rpc),
            reasons=list(reasons),
            opted_out=bool(row.opted_out),
            plans_offered=bool(row.plans_offered),
            arrangement_accepted=bool(row.arrangement_accepted),
            csat=row.csat,
            fallbacks=int(row.fallbacks),
            fallback_turn=int(row.fallback_turn),
            last_intent=row.last_intent,
            open_question=row.open_question,
            # an older row: every message that was not a fallback turn counts as understood
            understood=int(row.understood) if row.understood is not None else int(row.messages) - int(row.fallbacks),
            record_id=int(row.id),
        )

    def _reason(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
            self.new_reasons.append(reason)

    def apply(self, position: int, event: dict[str, Any]) -> None:
        """Count one event of this conversation (the rules of ``bot.kpis.conversation_from_events``)."""
        self.last_position = position
        self.ended_at = _at(event)
        kind = event.get("event")
        if kind == "user":
            self.user_events += 1
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            name = str(intent.get("name") or FALLBACK_INTENT)
            if str(intent.get("name") or "").startswith(EXTERNAL_PREFIX):
                return
            self.messages += 1
            self.last_intent = name[:64]
            self.understood += name != OUT_OF_SCOPE_INTENT  # until the turn proves a fallback
            channel = str(event.get("input_channel") or "unknown")
            if self.channel is None:
                self.channel = channel
            text = storable(str(event.get("text") or ""))
            ranking = [
                [str(r.get("name")), float(r.get("confidence") or 0.0)] for r in parse.get("intent_ranking") or [] if r
            ]
            at = _at(event)
            self.new_messages.append(
                {
                    "sender_id": self.sender_id,
                    "key": f"{self.sender_id}@{int(at.timestamp() * 1_000_000)}",
                    "at": at,
                    "text": text[:MAX_TEXT],
                    "intent": name,
                    "confidence": float(intent.get("confidence") or 0.0),
                    "ranking": json.dumps(ranking),
                    "channel": channel,
                    "personal": carries_personal_data(text) or self.open_question in IDENTITY_SLOTS,
                }
            )
        elif kind == "slot":
            slot, value = event.get("name"), event.get("value")
            if slot == "handoff_reason" and value:
                self._reason(str(value))
            elif slot == "csat_score" and value is not None:
                self.csat = int(value)
            elif slot == "account_id" and value:
                self.account_id = str(value)
            elif slot == "identity_verified" and value is True:
                self.rpc = True
            elif slot == "arrangement_id" and value:
                self.arrangement_accepted = True
            elif slot == "requested_slot":
                self.open_question = str(value)[:64] if value else None
        elif kind == "active_loop" and not event.get("name"):
            self.open_question = None  # the form ended: no question is open
        elif kind == "action":
            action = event.get("name")
            if action == REQUEST_HUMAN_ACTION:
                self._reason("requested")
            elif action == OPT_OUT_ACTION:
                self.opted_out = True
            elif action == OFFER_PLANS_ACTION:
                self.plans_offered = True
            elif (
                is_fallback_turn(action, self.last_intent)
                and self.messages > 0
                and self.fallback_turn != self.messages - 1
            ):
                self.fallbacks += 1
                self.fallback_turn = self.messages - 1
                self.understood -= self.last_intent != OUT_OF_SCOPE_INTENT

    def values(self) -> dict[str, Any]:
        """Column values of the row."""
        return {
            "sender_id": self.sender_id,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "day": self.started_at.date(),
            "channel": self.channel,
            "account_id": self.account_id,
            "user_events": self.user_events,
            "messages": self.messages,
            "rpc": self.rpc,
            "handoff": bool(self.reasons),
            "opted_out": self.opted_out,
            "plans_offered": self.plans_offered,
            "arrangement_accepted": self.arrangement_accepted,
            "csat": self.csat,
            "fallbacks": self.fallbacks,
            "fallback_turn": self.fallback_turn,
            "last_intent": self.last_intent,
            "open_question": self.open_question,
            "understood": self.understood,
        }


def starts_new_conversation(current: ConversationState | None, event: dict[str, Any]) -> bool:
    """Whether ``event`` opens a new conversation row: the first event of a sender, or a session
    start after a session that had a user event (``bot.kpis.split_sessions``)."""
    if current is None:
        return True
    return event.get("event") == "action" and event.get("name") == SESSION_START and current.user_events > 0


def reduce(
    sender_id: str, events: Iterable[tuple[int, dict[str, Any]]], current: ConversationState | None = None
) -> list[ConversationState]:
    """Apply ``(position, event)`` pairs, in order, to the sender's latest conversation
    ``current`` (None when the sender has none yet); returns the states touched, oldest first
    (``current`` first when given)."""
    touched: list[ConversationState] = [current] if current is not None else []
    for position, event in events:
        if starts_new_conversation(current, event):
            current = ConversationState.starting(sender_id, position, event)
            touched.append(current)
        assert current is not None
        current.apply(position, event)
    return touched


def _latest(session: Session, sender_id: str) -> ConversationState | None:
    row = session.execute(
        select(ConversationRecord)
        .where(ConversationRecord.sender_id == sender_id)
        .order_by(ConversationRecord.first_position.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    reasons = session.execute(
        select(HandoffReasonRecord.reason).where(HandoffReasonRecord.conversation_id == row.id)
    ).scalars()
    return ConversationState.from_record(row, list(reasons))


def store(session: Session, states: Sequence[ConversationState]) -> None:
    """Insert or update the rows of ``states`` with their new messages and handoff reasons: one
    statement per changed row, one for all new rows and one each for their messages and reasons."""
    conversations = ConversationRecord.__table__
    new = [state for state in states if state.record_id is None]
    for state in states:
        if state.record_id is not None:
            session.execute(
                conversations.update().where(conversations.c.id == state.record_id).values(**state.values())
            )
    if len(new) == 1:
        result = session.execute(conversations.insert().values(**new[0].values()))
        new[0].record_id = int(result.inserted_primary_key[0])
    elif new:
        _insert_with_ids(session, new)
    messages = [{**m, "conversation_id": s.record_id} for s in states for m in s.new_messages]
    reasons = [
        {"conversation_id": s.record_id, "reason": r, "started_at": s.started_at} for s in states for r in s.new_reasons
    ]
    if messages:
        session.execute(MessageRecord.__table__.insert(), messages)
    if reasons:
        session.execute(HandoffReasonRecord.__table__.insert(), reasons)
    for state in states:
        state.new_messages, state.new_reasons = [], []


def _insert_with_ids(session: Session, states: Sequence[ConversationState]) -> None:
    """Insert many new conversation rows in one statement, their ids given here (under a lock
    on PostgreSQL, whose sequence is moved past them)."""
    from sqlalchemy import func, text

    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("LOCK TABLE analytics_conversations IN EXCLUSIVE MODE"))
    first = int(session.execute(select(func.max(ConversationRecord.id))).scalar() or 0) + 1
    for offset, state in enumerate(states):
        state.record_id = first + offset
    session.execute(ConversationRecord.__table__.insert(), [{"id": s.record_id, **s.values()} for s in states])
    if postgres:
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('analytics_conversations', 'id'), :last)"),
            {"last": first + len(states) - 1},
        )


def project(session: Session, sender_id: str, events: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Add a conversation's new ``(position, event)`` pairs (the positions following what was
    projected before) to the analytics tables, in the caller's transaction."""
    if events:
        store(session, reduce(sender_id, events, _latest(session, sender_id)))


def forget_from(session: Session, sender_id: str, position: int) -> int | None:
    """Remove the sender's conversation rows that hold events at or after ``position`` (their
    events changed); returns the first position to project again (None: nothing removed)."""
    rows = session.execute(
        select(ConversationRecord.id, ConversationRecord.first_position).where(
            ConversationRecord.sender_id == sender_id, ConversationRecord.last_position >= position
        )
    ).all()
    if not rows:
        return None
    ids = [int(r.id) for r in rows]
    _delete(session, ids)
    return min(int(r.first_position) for r in rows)


def _delete(session: Session, ids: list[int]) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(MessageRecord).where(MessageRecord.conversation_id.in_(chunk)))
        session.execute(delete(HandoffReasonRecord).where(HandoffReasonRecord.conversation_id.in_(chunk)))
        session.execute(delete(ConversationRecord).where(ConversationRecord.id.in_(chunk)))


def _event_stream(session: Session, batch: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every event of the log as (sender, position, event), by sender then position; rows another
    broker wrote without a position are numbered in the order they were stored."""
    query = (
        select(db.EventRecord.sender_id, db.EventRecord.position, db.EventRecord.data)
        .order_by(db.EventRecord.sender_id, db.EventRecord.id)
        .execution_options(yield_per=batch, stream_results=True)
    )
    sender, counter = None, 0
    for sender_id, position, data in session.execute(query):
        if sender_id != sender:
            sender, counter = sender_id, 0
        yield str(sender_id), int(position) if position is not None else counter, json.loads(data)
        counter += 1


def rebuild(session: Session, batch: int = 5000, progress: bool = False) -> int:
    """Empty the analytics tables and rebuild them from the whole event log (read in batches of
    ``batch`` events, written every ``batch`` conversations); returns the conversation rows
    written. Commits as it goes; run it while no events arrive (or project again after)."""
    from tqdm import tqdm

    for model in (MessageRecord, HandoffReasonRecord, ConversationRecord):
        session.execute(delete(model))
    session.commit()
    total = session.execute(select(db.EventRecord.id).order_by(db.EventRecord.id.desc()).limit(1)).scalar() or 0
    written, pending = 0, []
    current: ConversationState | None = None
    with tqdm(total=int(total), desc="events", unit="event", disable=not progress) as bar:
        for sender_id, position, event in _event_stream(session, batch):
            bar.update(1)
            if current is None or current.sender_id != sender_id or starts_new_conversation(current, event):
                current = ConversationState.starting(sender_id, position, event)
                pending.append(current)
            current.apply(position, event)
            if len(pending) > batch:
                done, pending = pending[:-1], pending[-1:]  # the last one may still grow
                store(session, done)
                written += len(done)
    store(session, pending)
    session.commit()
    return written + len(pending)


@dataclass(frozen=True)
class Summary:
    """A conversation as the list pages show it (no events)."""

    id: int
    sender_id: str
    started_at: datetime
    ended_at: datetime
    channel: str
    account_id: str | None
    turns: int
    rpc: bool
    handoff_reasons: tuple[str, ...]
    opted_out: bool
    csat: int | None
    first_position: int
    last_position: int
    arrangement_accepted: bool = False
    agreed: tuple[str, ...] = ()  # what the debtor agreed in it: "ARR-3", "PTP-5" (system of record)

    @property
    def day(self) -> date:
        """UTC date the conversation started."""
        return self.started_at.date()

    @property
    def arrangements(self) -> tuple[str, ...]:
        """The arrangements agreed in it ("ARR-3"), from :attr:`agreed`."""
        return tuple(ref for ref in self.agreed if ref.startswith("ARR-"))
