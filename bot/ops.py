"""Where the ops views get their data: SQL over the analytics tables (``bot.analytics``, kept from
the event log as conversations happen), joined with the system of record (promises to pay and
their status, accounts for segments), and the event log for one conversation's transcript.

Nothing here reads the tracker store: the cost of a KPI report grows with the conversations in
the period asked for (an index on the start time), not with every conversation ever stored, and
no conversation is loaded into memory to count it. The definitions are those of ``bot.kpis``;
``tests/unit/bot/test_ops.py`` checks these queries against :func:`bot.kpis.compute`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot import db, eventlog
from bot.accounts import DPD_BUCKETS
from bot.analytics import ConversationRecord, HandoffReasonRecord, MessageRecord, Summary
from bot.kpis import (
    FALLBACK_INTENT,
    GROUPINGS,
    Conversation,
    KpiRow,
    UserMessage,
    conversation_from_events,
    segment_for,
)
from bot.nlu_review import ReviewedMessage

C = ConversationRecord.__table__
R = HandoffReasonRecord.__table__
M = MessageRecord.__table__
A = db.Account.__table__
P = db.PromiseToPay.__table__
Ar = db.Arrangement.__table__


@dataclass(frozen=True)
class Scope:
    """Which conversations count: sender ids starting with one of ``sender_prefixes`` (all when
    empty), started at or after ``since`` (aware; all when None)."""

    sender_prefixes: tuple[str, ...] = ()
    since: datetime | None = None


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _like_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")  # type: ignore[no-any-return]


def _scoped(scope: Scope, sender: Any = None) -> list[ColumnElement[bool]]:
    """Conditions on ``analytics_conversations`` for ``scope`` (conversations with a debtor message)."""
    conditions: list[ColumnElement[bool]] = [C.c.messages > 0]
    if scope.since is not None:
        conditions.append(C.c.started_at >= scope.since)
    if scope.sender_prefixes:
        conditions.append(
            or_(*(_like_prefix(sender if sender is not None else C.c.sender_id, p) for p in scope.sender_prefixes))
        )
    return conditions


def _flag(column: Any) -> Any:
    return func.sum(case((column, 1), else_=0))


def _idle() -> ColumnElement[bool]:
    """:func:`bot.kpis.is_idle` as SQL on ``analytics_conversations``."""
    understood = func.coalesce(C.c.understood, C.c.messages - C.c.fallbacks)  # NULL: an older row
    return and_(  # type: ignore[no-any-return]
        C.c.messages > 0,
        understood <= 0,
        *(column.is_(False) for column in (C.c.handoff, C.c.rpc, C.c.plans_offered, C.c.arrangement_accepted)),
        C.c.opted_out.is_(False),
        C.c.csat.is_(None),
    )


def _key(by: str) -> tuple[Any, bool]:
    """The SQL expression conversations are grouped on for ``by``, and whether it needs the
    accounts join. Raises ValueError for an unknown grouping."""
    if by == "day":
        return C.c.day, False
    if by == "channel":
        return C.c.channel, False
    if by == "segment":
        return _segment_expression(), True
    raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")


def _segment_expression() -> Any:
    """:func:`bot.kpis.segment_for` of the linked account's DPD as SQL (NULL with no account):
    the bucket bounds are read from ``bot.accounts.DPD_BUCKETS`` ("1-30" … "90+")."""
    dpd = A.c.days_past_due
    bounds = [int(name.partition("-")[2]) for name in DPD_BUCKETS if name.partition("-")[2]]
    whens = [(dpd.is_(None), None), (dpd <= 0, segment_for(0))]
    whens += [(dpd <= bound, segment_for(bound)) for bound in bounds]
    return case(*whens, else_=segment_for(bounds[-1] + 1))


def _group_name(by: str, value: Any) -> str:
    if by == "segment":
        return "unlinked" if value is None else str(value)
    if by == "day":
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value) if value is not None else "unknown"


def _from(joins_accounts: bool, base: Any = None) -> Any:
    source = base if base is not None else C
    return source.outerjoin(A, A.c.id == C.c.account_id) if joins_accounts else source


def kpi_report(session: Session, scope: Scope, by: str | None = None) -> list[KpiRow]:
    """KPI rows per group (sorted by name) and a "total" row, as :func:`bot.kpis.compute` gives
    for the conversations in ``scope``. Raises ValueError for an unknown grouping."""
    return kpi_reports(session, scope, [by] if by else [])[by or "total"]


def kpi_reports(session: Session, scope: Scope, groupings: Sequence[str]) -> dict[str, list[KpiRow]]:
    """:func:`kpi_report` for each of ``groupings`` ("day", "channel", "segment") and "total"
    (the total row alone), from one pass: three aggregate queries (conversations, handoff
    reasons, promises matched to conversations) grouped by every key asked for at once. Raises
    ValueError for an unknown grouping."""
    wanted = list(dict.fromkeys(groupings))
    keys, accounts = [], False
    for by in wanted:
        key, joins = _key(by)
        keys.append(key)
        accounts = accounts or joins
    conditions = _scoped(scope)
    tables: dict[str, dict[str, KpiRow]] = {by: {} for by in wanted}
    total = KpiRow("total")

    def rows_for(values: Sequence[Any]) -> list[KpiRow]:
        out = [total]
        for by, value in zip(wanted, values, strict=True):
            name = _group_name(by, value)
            row = tables[by].get(name)
            if row is None:
                row = tables[by][name] = KpiRow(name)
            out.append(row)
        return out

    counts = select(
        *keys,
        func.count(),
        func.sum(C.c.messages),
        _flag(C.c.rpc),
        _flag(C.c.handoff),
        _flag(C.c.plans_offered),
        _flag(and_(C.c.plans_offered, C.c.arrangement_accepted)),
        _flag(C.c.opted_out),
        func.sum(C.c.fallbacks),
        _flag(_idle()),
        func.count(C.c.csat),
        func.sum(C.c.csat),
    ).select_from(_from(accounts))
    for result in session.execute(counts.where(*conditions).group_by(*keys)):
        values = list(result)
        n, turns, rpc, handoffs, offered, accepted, opt_outs, fallbacks, idle, answered, csat_total = (
            int(v or 0) for v in values[len(keys) :]
        )
        if not n:
            continue
        for target in rows_for(values[: len(keys)]):
            target.conversations += n
            target.user_turns += turns
            target.rpc += rpc
            target.handoffs += handoffs
            target.plans_offered += offered
            target.arrangements += accepted
            target.opt_outs += opt_outs
            target.fallbacks += fallbacks
            target.idle += idle
            target.csat_responses += answered
            target.csat_total += csat_total

    # the reasons of the period only (each carries its conversation's start), then their conversations
    reason_conditions = [*conditions]
    if scope.since is not None:
        reason_conditions.append(R.c.started_at >= scope.since)
    reasons = select(*keys, R.c.reason, func.count()).select_from(
        _from(accounts, R.join(C, C.c.id == R.c.conversation_id))
    )
    for result in session.execute(reasons.where(*reason_conditions).group_by(*keys, R.c.reason)):
        values = list(result)
        for target in rows_for(values[: len(keys)]):
            target.handoff_reasons[str(values[-2])] += int(values[-1])

    # a promise belongs to the sender's latest conversation in scope started at or before it
    matched = (
        select(C.c.id)
        .where(C.c.sender_id == P.c.conversation_id, C.c.started_at <= P.c.created_at, *conditions)
        .order_by(C.c.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    promise_conditions: list[ColumnElement[bool]] = [P.c.conversation_id.isnot(None)]
    if scope.since is not None:
        promise_conditions.append(P.c.created_at >= scope.since)
    if scope.sender_prefixes:
        promise_conditions.append(or_(*(_like_prefix(P.c.conversation_id, p) for p in scope.sender_prefixes)))
    made = select(P.c.status.label("status"), matched.label("conversation")).where(*promise_conditions).subquery()
    promises = select(
        *keys,
        func.count(func.distinct(made.c.conversation)),
        func.sum(case((made.c.status == "kept", 1), else_=0)),
        func.sum(case((made.c.status == "broken", 1), else_=0)),
    ).select_from(_from(accounts, made.join(C, C.c.id == made.c.conversation)))
    for result in session.execute(promises.group_by(*keys)):
        values = list(result)
        with_ptp, kept, broken = (int(v or 0) for v in values[len(keys) :])
        for target in rows_for(values[: len(keys)]):
            target.ptp += with_ptp
            target.ptp_kept += kept
            target.ptp_broken += broken

    out = {by: [tables[by][k] for k in sorted(tables[by])] + [total] for by in wanted}
    out["total"] = [total]
    return out


def _merge(into: KpiRow, part: KpiRow) -> None:
    for name in (
        "conversations",
        "user_turns",
        "rpc",
        "handoffs",
        "ptp",
        "ptp_kept",
        "ptp_broken",
        "plans_offered",
        "arrangements",
        "opt_outs",
        "fallbacks",
        "idle",
        "csat_responses",
        "csat_total",
    ):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    into.handoff_reasons.update(part.handoff_reasons)


AGREED_GRACE = timedelta(minutes=1)  # a record written in a turn may carry a time just after its last event


def _agreed(session: Session, rows: Sequence[Any]) -> dict[int, list[str]]:
    """Conversation row id → the arrangements (ARR-n) and promises to pay (PTP-n) recorded in it:
    same sender id (``conversation_id`` of the record), made between the conversation's start and
    its last event (plus :data:`AGREED_GRACE`)."""
    by_sender: dict[str, list[Any]] = {}
    for r in rows:
        by_sender.setdefault(str(r.sender_id), []).append(r)
    out: dict[int, list[str]] = {}
    senders = list(by_sender)
    for start in range(0, len(senders), 500):
        batch = senders[start : start + 500]
        found = [
            ("ARR", int(i), str(s), _aware(t))
            for i, s, t in session.execute(
                select(Ar.c.id, Ar.c.conversation_id, Ar.c.created_at).where(Ar.c.conversation_id.in_(batch))
            )
        ] + [
            ("PTP", int(i), str(s), _aware(t))
            for i, s, t in session.execute(
                select(P.c.id, P.c.conversation_id, P.c.created_at).where(P.c.conversation_id.in_(batch))
            )
        ]
        for prefix, record_id, sender, made in sorted(found):
            for r in by_sender[sender]:
                if _aware(r.started_at) <= made <= _aware(r.ended_at) + AGREED_GRACE:
                    out.setdefault(int(r.id), []).append(f"{prefix}-{record_id}")
                    break
    return out


def _summaries(session: Session, rows: Sequence[Any]) -> list[Summary]:
    ids = [int(r.id) for r in rows]
    reasons: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        query = select(R.c.conversation_id, R.c.reason).where(R.c.conversation_id.in_(ids[start : start + 500]))
        for conversation_id, reason in session.execute(query.order_by(R.c.id)):
            reasons.setdefault(int(conversation_id), []).append(str(reason))
    agreed = _agreed(session, rows)
    return [
        Summary(
            id=int(r.id),
            sender_id=str(r.sender_id),
            started_at=_aware(r.started_at),
            ended_at=_aware(r.ended_at),
            channel=str(r.channel or "unknown"),
            account_id=r.account_id,
            turns=int(r.messages),
            rpc=bool(r.rpc),
            handoff_reasons=tuple(reasons.get(int(r.id), ())),
            opted_out=bool(r.opted_out),
            csat=r.csat,
            first_position=int(r.first_position),
            last_position=int(r.last_position),
            arrangement_accepted=bool(r.arrangement_accepted),
            agreed=tuple(agreed.get(int(r.id), ())),
        )
        for r in rows
    ]


def conversation_list(session: Session, scope: Scope, query: str = "", limit: int = 200) -> tuple[list[Summary], int]:
    """The newest ``limit`` conversations in ``scope`` whose sender id contains ``query`` (any
    case) or whose account is ``query``, and how many there are in all."""
    conditions = _scoped(scope)
    if query:
        conditions.append(
            or_(func.lower(C.c.sender_id).contains(query.lower(), autoescape=True), C.c.account_id == query.upper())
        )
    total = int(session.execute(select(func.count()).select_from(C).where(*conditions)).scalar_one())
    rows = session.execute(
        select(C).where(*conditions).order_by(C.c.started_at.desc(), C.c.id.desc()).limit(limit)
    ).all()
    return _summaries(session, rows), total


def conversations_of(session: Session, sender_id: str) -> list[Summary]:
    """Every conversation of ``sender_id`` (sessions with a debtor message), oldest first."""
    rows = session.execute(
        select(C).where(C.c.sender_id == sender_id, C.c.messages > 0).order_by(C.c.first_position)
    ).all()
    return _summaries(session, rows)


def conversation(session: Session, summary: Summary) -> Conversation:
    """The whole conversation of ``summary`` with its events, read from the event log."""
    events = eventlog.read(session, summary.sender_id, summary.first_position, summary.last_position + 1)
    found = conversation_from_events(summary.sender_id, events)
    if found is None:  # the analytics row says there was a debtor message: the log must agree
        raise LookupError(f"no debtor message in the event log for conversation {summary.id}")
    return found


def review_queue(
    session: Session, scope: Scope, threshold: float, key: str | None = None, limit: int = 100
) -> tuple[list[UserMessage], int]:
    """Messages for the review queue (``bot.kpis.low_confidence_messages``'s rule): classified
    ``nlu_fallback`` or with a top intent below ``threshold`` (0-1), not reviewed yet (table
    ``nlu_reviews``), not personal (``MessageRecord.personal``: a full date, phone number or
    account reference, or an answer to an identity question), identical texts as one message
    (the newest, with ``count``); only the one with ``key`` when given. Returns the newest
    ``limit`` of them and how many there are (distinct texts)."""
    conditions = [
        *_scoped(scope),
        or_(M.c.intent == FALLBACK_INTENT, M.c.confidence < threshold),
        M.c.personal.is_(False),
        func.trim(M.c.text) != "",
        M.c.key.notin_(select(ReviewedMessage.message_key)),
    ]
    if key is not None:
        conditions.append(M.c.key == key)
    source = M.join(C, C.c.id == M.c.conversation_id)
    newest_first = (M.c.at.desc(), M.c.key.desc())
    ranked = (
        select(
            M.c.id.label("id"),
            func.row_number().over(partition_by=M.c.text, order_by=newest_first).label("rank"),
            func.count().over(partition_by=M.c.text).label("copies"),
        )
        .select_from(source)
        .where(*conditions)
        .subquery()
    )
    total = int(session.execute(select(func.count()).select_from(ranked).where(ranked.c.rank == 1)).scalar_one())
    rows = session.execute(
        select(M, ranked.c.copies)
        .join(ranked, ranked.c.id == M.c.id)
        .where(ranked.c.rank == 1)
        .order_by(*newest_first)
        .limit(limit)
    ).all()
    messages = [
        UserMessage(
            sender_id=str(r.sender_id),
            at=_aware(r.at),
            text=str(r.text),
            intent=str(r.intent),
            confidence=float(r.confidence),
            ranking=tuple((str(n), float(c)) for n, c in json.loads(r.ranking or "[]")),
            channel=str(r.channel),
            count=int(r.copies),
        )
        for r in rows
    ]
    return messages, total


def review_copies(session: Session, scope: Scope, threshold: float, text: str) -> list[str]:
    """Keys of every queued message whose text is exactly ``text`` (what one review-queue row
    stands for), so labelling or dismissing the row takes all of them out of the queue."""
    conditions = [
        *_scoped(scope),
        or_(M.c.intent == FALLBACK_INTENT, M.c.confidence < threshold),
        M.c.personal.is_(False),
        M.c.text == text,
        M.c.key.notin_(select(ReviewedMessage.message_key)),
    ]
    source = M.join(C, C.c.id == M.c.conversation_id)
    return [str(k) for k in session.execute(select(M.c.key).select_from(source).where(*conditions)).scalars()]
