"""Segments, strategies, the roll-rate model and the outreach decisions, without servers."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import db
from bot.outreach.campaigns import _cadence, decide, opening_texts, sms_bodies
from bot.outreach.portfolio import generate, generate_cohort, history_for, load_into
from bot.outreach.risk import early_warning, save_chart, train
from bot.outreach.segments import AccountFacts, classify, segment_key
from bot.outreach.strategies import DATA, load_strategies, strategies, strategy_for
from bot.settings import DataFileError

NOW = datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)


def _write(tmp: Path, files: dict[str, dict[str, Any]]) -> Path:
    for name, raw in files.items():
        (tmp / name).write_text(yaml.safe_dump(raw))
    return tmp


def _standard() -> dict[str, Any]:
    return dict(yaml.safe_load((DATA / "standard.yml").read_text()))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tone": "menacing"}, "tone"),
        ({"offer_policy": "no_such_policy"}, "offer_policy"),
        ({"channels": ["fax"]}, "channels"),
        ({"cadence": {"every_days": 0, "max_per_7_days": 2, "reminder_days": 1}}, "cadence.every_days"),
        ({"first_contact": "robot"}, "first_contact"),
        ({"match": {"dpd_bucket": ["200+"]}}, "match.dpd_bucket"),
        ({"match": {"star_sign": ["leo"]}}, "match.star_sign"),
    ],
)
def test_a_bad_strategy_file_fails_at_load_naming_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    with pytest.raises(DataFileError, match=re.escape(f"bad.yml: field '{field}'")):
        load_strategies(_write(tmp_path, {"bad.yml": {**_standard(), **change}}))


def test_missing_field_and_missing_catch_all_are_named(tmp_path: Path) -> None:
    raw = _standard()
    del raw["tone"]
    with pytest.raises(DataFileError, match="missing field 'tone'"):
        load_strategies(_write(tmp_path, {"a.yml": raw}))
    narrow = {**_standard(), "match": {"dpd_bucket": ["1-30"]}}
    with pytest.raises(DataFileError, match="no strategy with an empty 'match'"):
        load_strategies(_write(tmp_path, {"a.yml": narrow}))


def test_segments_pick_strategies_by_priority() -> None:
    def facts(**kw: Any) -> AccountFacts:
        base = dict(
            account_id="A-1",
            days_past_due=10,
            balance_minor=50_000,
            currency="USD",
            full_payments=5,
            broken_promises=0,
            hardship=False,
        )
        return AccountFacts(**{**base, **kw})

    early = classify(facts())
    assert early == {
        "dpd_bucket": "1-30",
        "balance_band": "low",
        "history": "good",
        "broken_promises": "none",
        "hardship": "none",
    }
    assert strategy_for(early).name == "early_good_history"
    assert strategy_for(classify(facts(hardship=True, broken_promises=3))).name == "hardship"
    late_big = classify(facts(days_past_due=120, balance_minor=800_000, broken_promises=2, full_payments=0))
    assert segment_key(late_big) == "90+/high/poor/broken/ok"
    assert strategy_for(late_big).first_contact == "collector"
    assert strategy_for(classify(facts(days_past_due=45, full_payments=1))).name == "standard"
    assert {s.offer_policy for s in strategies()} <= {"default", "hardship", "uk"}


def test_history_is_deterministic_and_fixture_accounts_are_unchanged() -> None:
    accounts = generate()
    a1001 = next(a for a in accounts if a.id == "A-1001")
    assert (a1001.days_past_due, str(a1001.balance.minor), a1001.phone) == (45, "124050", "+16175550101")
    assert history_for(a1001) == history_for(a1001)
    # months in arrears are not fully paid: 45 DPD means the last two months are behind
    assert all(m.paid_minor < m.due_minor for m in history_for(a1001)[-2:])
    assert [r.rolled for r in generate_cohort()[:50]] == [r.rolled for r in generate_cohort()[:50]]


def test_opening_says_nothing_about_the_debt_and_carries_the_business_name_and_footer() -> None:
    # before right-party contact: the business name and the identity question only (15 U.S.C.
    # 1692b, 1692c(b); 12 CFR 1006.6(d)); the mini-Miranda comes after verification (1006.18(e))
    for reason, tone in [("collection", "soft"), ("follow_up", "firm"), ("ptp_reminder", "neutral")]:
        for jurisdiction in ("US-MA", "UK", "CN"):
            bodies = sms_bodies(opening_texts(reason, tone, jurisdiction=jurisdiction), jurisdiction)
            text = " ".join(bodies)
            assert text.startswith("Hello, this is Example Lending.")
            assert "date of birth" in text
            assert not re.search(r"\d|\$|balance|owe|overdue|past due|debt|collect", text, re.I)
            footer = {"CN": "Reply TD to unsubscribe."}.get(jurisdiction, "Reply STOP to opt out.")
            assert all(b.endswith(footer) for b in bodies)


def test_cadence_defers_until_the_next_allowed_day() -> None:
    strategy = next(s for s in strategies() if s.name == "standard")  # every 3 days, 2 per 7 days
    assert _cadence(strategy, [], NOW) == ([], None)
    reasons, until = _cadence(strategy, [NOW - timedelta(days=1)], NOW)
    assert reasons == ["cadence_every_days"] and until == NOW + timedelta(days=2)
    reasons, until = _cadence(strategy, [NOW - timedelta(days=6), NOW - timedelta(days=3)], NOW)
    assert reasons == ["cadence_max_per_7_days"] and until == NOW + timedelta(days=1)


def test_decisions_follow_window_reminders_and_holds(database: str) -> None:
    url = database
    with db.session_scope(url) as session:
        load_into(session, generate())
    with db.session_scope(url) as session:
        uk = session.get(db.Account, "A-2001")
        assert decide(session, uk, NOW).reasons == ("outside_contact_window",)  # 21:00 in London
        us = session.get(db.Account, "A-1003")
        first = decide(session, us, NOW)
        assert first.outcome == "send" and first.channel == "sms"
        # a promise due tomorrow (debtor's date) gets a reminder; a later one holds collection contact
        ptp = db.PromiseToPay(
            account_id="A-1003", amount_minor=5000, currency="USD", due_date=date(2026, 12, 1), channel="sms"
        )
        session.add(ptp)
        session.flush()
        reminder = decide(session, us, NOW)
        assert (reminder.reason, reminder.ptp_id, reminder.outcome) == ("ptp_reminder", ptp.id, "send")
        ptp.due_date = date(2026, 12, 20)
        assert decide(session, us, NOW).reasons == ("ptp_pending",)
        db.log_contact(session, account_id="A-1003", channel="sms", direction="inbound", event="dispute")
        ptp.status = "cancelled"
        session.flush()
        held = decide(session, us, NOW + timedelta(minutes=1))
        assert held.outcome == "denied" and held.reasons == ("hold_dispute",)


def test_a_dry_run_decides_in_batches_as_one_by_one(database: str) -> None:
    """A dry run over the demo portfolio: the same decisions whatever the batch size, one audit
    entry per gate check in an intact chain, and nothing else written."""
    from sqlalchemy import func, select

    from bot.compliance import audit
    from bot.outreach.campaigns import run

    with db.session_scope(database) as session:
        load_into(session, generate())
        session.add(
            db.PromiseToPay(
                account_id="A-1003", amount_minor=5000, currency="USD", due_date=date(2026, 12, 1), channel="sms"
            )
        )
        db.log_contact(session, account_id="A-1001", channel="sms", direction="inbound", event="dispute")
    with db.session_scope(database) as session:
        big = run(session, NOW, None, None, progress=False)
        audited = session.execute(select(func.count()).select_from(audit.AuditEntry)).scalar_one()
        one_by_one = [
            decide(session, session.get(db.Account, a.account_id), NOW, "outreach-dry-run") for a in big.attempts
        ]
        small = run(session, NOW, None, None, progress=False, batch=7)
        assert big.attempts == one_by_one == small.attempts and len(big.attempts) == len(list(generate()))
        assert audit.verify_chain(session) is None
        contacts = session.execute(select(func.count()).select_from(db.ContactLog)).scalar_one()
    by_id = {a.account_id: a for a in big.attempts}
    assert (by_id["A-1003"].reason, by_id["A-1001"].reasons) == ("ptp_reminder", ("hold_dispute",))
    assert audited >= sum(a.outcome == "send" for a in big.attempts) > 50 and contacts == 1


def test_risk_model_reports_auc_coefficients_and_early_warning(tmp_path: Path) -> None:
    model = train()
    assert 0.65 < model.auc < 0.95, model.auc
    assert train().auc == model.auc  # seeded
    names = dict(model.coefficients)
    assert names["full_payments"] < 0 < names["partial_payments"]  # paying in full lowers the roll risk
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
        warnings = early_warning(session, model, 0.8)
    assert warnings and all(w.probability >= 0.8 for w in warnings)
    assert [w.probability for w in warnings] == sorted((w.probability for w in warnings), reverse=True)
    chart = save_chart(model, warnings, tmp_path / "reports" / "risk.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_outreach_leaves_open_tickets_and_recent_hardship_alone(tmp_path: Path) -> None:
    """A collector holds the account (an open ticket on it or its phone's conversation): the bot
    never writes into that conversation; a hardship told us recently: no outreach for a while
    (``quiet_after_hardship_days``, data/segments.yml)."""
    from bot.outreach.campaigns import account_views, held_back

    url = f"sqlite:///{tmp_path / 'h.db'}"
    with db.session_scope(url) as session:
        load_into(session, generate())
    with db.session_scope(url) as session:
        us = session.get(db.Account, "A-1003")
        assert held_back(next(account_views(session, ["A-1003"]))[0], NOW) == ()
        ticket = db.HandoffTicket(
            conversation_id=us.debtor.phone_e164, account_id=None, channel="sms", reason="requested", priority=4
        )
        session.add(ticket)
        session.flush()
        held = decide(session, us, NOW)
        assert (held.outcome, held.reasons) == ("deferred", ("open_ticket",))
        ticket.resolved_at = NOW
        session.flush()
        assert decide(session, us, NOW).outcome == "send"
        row = db.log_contact(
            session, account_id="A-1003", channel="sms", direction="inbound", event="hardship_disclosed"
        )
        row.at = NOW - timedelta(days=3)
        session.flush()
        assert decide(session, us, NOW).reasons == ("recent_hardship",)
        row.at = NOW - timedelta(days=20)
        session.flush()
        assert held_back(next(account_views(session, ["A-1003"]))[0], NOW) == ()


def test_an_email_reminder_goes_through_smtp_with_its_opt_out_link(tmp_path: Path) -> None:
    """An outreach e-mail (12 CFR 1006.6(d)(4) address, the first disclosure, the opt-out link of
    1006.6(e)) through a real local SMTP server; no contact window applies to an e-mail sent."""
    import email as email_lib
    import email.policy

    from aiosmtpd.controller import Controller

    from bot.outreach.campaigns import Attempt, RunResult, execute
    from scripts.services import free_port

    messages: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
            messages.append(email_lib.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    url = f"sqlite:///{tmp_path / 'e.db'}"
    try:
        with db.session_scope(url) as session:
            load_into(session, generate())
        with db.session_scope(url) as session:
            a1001 = session.get(db.Account, "A-1001")
            night = datetime(2026, 12, 1, 7, 0, tzinfo=timezone.utc)  # 02:00 in Boston
            from bot.compliance.service import gate_contact

            assert gate_contact(session, a1001, "sms", night, "t").outcome == "defer"
            assert gate_contact(session, a1001, "email", night, "t").allowed
            ptp = db.PromiseToPay(
                account_id="A-1001", amount_minor=5000, currency="USD", due_date=date(2026, 12, 2), channel="sms"
            )
            session.add(ptp)
            session.flush()
            attempt = Attempt(
                "A-1001", "+16175550101", "US-MA", "standard", "x", "neutral", "ptp_reminder", "send", "email",
                ptp_id=ptp.id,
            )  # fmt: skip
            import os

            os.environ["SMTP_PORT"] = str(controller.port)
            try:
                result = RunResult()
                done = execute(session, attempt, night, object(), None, result)  # type: ignore[arg-type]
            finally:
                del os.environ["SMTP_PORT"]
            assert done.outcome == "send" and result.sent["email"] == 1
            row = session.query(db.ContactLog).filter_by(account_id="A-1001", event="email_sent").one()
            assert row.detail.startswith("outreach ptp_reminder PTP-")
        [message] = messages
        body = message.get_body().get_content()
        assert message["To"] == "jordan.avery@example.com"
        assert "This is a debt collector." in body and "$50.00 on December 2, 2026" in body
        assert message["List-Unsubscribe"].strip("<>") in body
        # an address resting on no safe-harbour procedure is never written to
        with db.session_scope(url) as session:
            a1003 = session.get(db.Account, "A-1003")
            a1003.debtor.email = "riley@example.com"
            session.flush()
            attempt = Attempt(
                "A-1003", "+12125550103", "US-WA", "standard", "x", "neutral", "collection", "send", "email"
            )
            failed = execute(session, attempt, night, object(), None, RunResult())  # type: ignore[arg-type]
            assert (failed.outcome, failed.reasons) == ("deferred", ("no_safe_harbour_procedure",))
        assert len(messages) == 1
    finally:
        controller.stop()
