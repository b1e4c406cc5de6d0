"""The event log keeps each event once at its position; a rewrite from a position (a turn that
was logged but lost its lock) replaces what followed, analytics included; a gap is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot import db, eventlog
from bot.analytics import ConversationRecord, MessageRecord
from tests.unit.bot.test_kpis import Events


def test_positions_reads_and_a_replaced_turn(database: str) -> None:
    e = Events().session().user("hi", "greet").action("utter_greet").action("action_listen")
    first = list(e.events)
    lost_turn = Events().user("lost", "deny").action("action_listen").events
    kept_turn = Events().user("kept", "affirm").action("action_request_human").action("action_listen").events
    with db.session_scope(database) as session:
        assert eventlog.append(session, "s", 0, first) == 0
        assert eventlog.append(session, "s", len(first), lost_turn) == 0
    with db.session_scope(database) as session:  # the next holder of the lock writes over it
        assert eventlog.append(session, "s", len(first), kept_turn) == len(lost_turn)
    with db.session_scope(database) as session:
        assert eventlog.read(session, "s") == first + kept_turn
        assert eventlog.read(session, "s", 2, 4) == first[2:4]
        assert eventlog.next_position(session, "s") == len(first + kept_turn)
        texts = session.execute(select(MessageRecord.text).order_by(MessageRecord.id)).scalars().all()
        assert texts == ["hi", "kept"]
        row = session.execute(select(ConversationRecord)).scalar_one()
        assert (row.messages, row.handoff, row.last_position) == (2, True, len(first + kept_turn) - 1)
        with pytest.raises(ValueError, match="only"):
            eventlog.append(session, "s", 99, first)


def test_rebuild_gives_the_rows_kept_as_events_arrived(database: str) -> None:
    from bot.analytics import rebuild

    def rows(session: Any) -> list[tuple[Any, ...]]:
        columns = [c for c in ConversationRecord.__table__.columns if c.name != "id"]
        return [
            tuple(r)
            for r in session.execute(
                select(*columns).order_by(ConversationRecord.sender_id, ConversationRecord.first_position)
            )
        ]

    with db.session_scope(database) as session:
        for n in range(5):
            e = Events().session().user(f"hi {n}", "greet").action("action_listen").wait(7200)
            e.session().user("stop", "opt_out").action("action_opt_out").slot("handoff_reason", "crisis")
            for chunk in range(0, len(e.events), 3):
                eventlog.append(session, f"s{n}", chunk, e.events[chunk : chunk + 3])
    with db.session_scope(database) as session:
        before = rows(session)
        messages = session.execute(select(func.count()).select_from(MessageRecord)).scalar_one()
        assert rebuild(session, batch=3) == 10
        assert rows(session) == before and len(before) == 10
        assert session.execute(select(func.count()).select_from(MessageRecord)).scalar_one() == messages


def test_text_no_database_takes_is_stored_all_the_same(database: str) -> None:
    """A debtor can send NUL or a lone surrogate (JSON allows both): PostgreSQL refuses NUL in
    text and no database encodes a surrogate, which would fail every later save of the
    conversation. The event keeps its text exactly (ASCII JSON); the review queue sees U+FFFD."""
    text = "hi\x00 there \ud800!"
    sender = "odd\x00sender"
    e = Events().session().user(text, "nlu_fallback", 0.2).action("action_listen")
    with db.session_scope(database) as session:
        eventlog.append(session, sender, 0, e.events)
    with db.session_scope(database) as session:
        assert eventlog.read(session, sender) == e.events
        stored = session.execute(select(MessageRecord.text, MessageRecord.sender_id)).one()
        assert tuple(stored) == ("hi\ufffd there \ufffd!", "odd\ufffdsender")
