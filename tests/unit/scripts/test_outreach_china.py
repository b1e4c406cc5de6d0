"""Outreach to a Chinese account through the contact gate (scripts.outreach --dry-run): at most 6
unanswered attempts a day to one phone number and 3 effective calls a day (data/compliance/cn.yml);
the gate's answer for the call is in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot import db
from bot.db import AuditEntry
from scripts.services import ROOT

PHONE = "+8613800138001"  # A-3001's number
# Tuesday 1 December 2026, 15:00 in Shanghai
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=timezone.utc)


def _log(url: str, event: str, n: int, channel: str = "voice", direction: str = "outbound") -> None:
    with db.session_scope(url) as session:
        for i in range(n):
            row = db.log_contact(
                session,
                account_id="A-3001",
                channel=channel,
                direction=direction,
                event=event,
                conversation_id=PHONE,
                detail="test",
            )
            row.at = NOW - timedelta(hours=5) + timedelta(minutes=20 * i)


def _calls_allowed(url: str) -> None:
    """A broken promise puts A-3001 under a strategy that calls; an SMS opt-out leaves only calls."""
    with db.session_scope(url) as session:
        session.add(
            db.PromiseToPay(
                account_id="A-3001",
                amount_minor=100000,
                currency="CNY",
                due_date=date(2026, 11, 20),
                channel="sms",
                status="broken",
            )
        )
    _log(url, "opt_out", 1, channel="sms", direction="inbound")


def _dry_run(url: str) -> str:
    """``python -m scripts.outreach --dry-run`` for A-3001 at NOW, as an operator runs it; its output."""
    env = {**os.environ, "DATABASE_URL": url}
    command = ["--dry-run", "--no-open", "--quiet", "--account", "A-3001", "--at", NOW.isoformat()]
    done = subprocess.run(
        [sys.executable, "-m", "scripts.outreach", *command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


@pytest.mark.parametrize(
    ("event", "allowed", "capped", "reason"),
    [
        ("call_unanswered", 5, 6, "cap_cn_unanswered_attempts_day"),
        ("telephone_conversation", 2, 3, "cap_cn_effective_calls_day"),
    ],
)
def test_outreach_stops_calling_a_chinese_debtor_at_the_daily_caps(
    portfolio_database: str, event: str, allowed: int, capped: int, reason: str
) -> None:
    _calls_allowed(portfolio_database)
    _log(portfolio_database, event, allowed)
    assert "would send voice A-3001" in _dry_run(portfolio_database)
    _log(portfolio_database, event, capped - allowed)
    out = _dry_run(portfolio_database)
    assert "would send: 0" in out, out  # the report names the first channel's reason (texts are off)
    with db.session_scope(portfolio_database) as session:
        voice = session.execute(
            select(AuditEntry)
            .where(AuditEntry.account_id == "A-3001", AuditEntry.action == "outbound_voice")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).scalar_one()
        assert (voice.actor, voice.outcome, json.loads(voice.reasons)) == ("outreach-dry-run", "defer", [reason])
