"""The compliance engine over the system of record: contact history from the contact log,
gate decisions and lint results written to the audit log."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.compliance.gate import ContactEvent, ContactRequest, Decision, check
from bot.compliance.lint import LintResult, lint
from bot.compliance.profiles import all_profiles, profile_for


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def history_for(session: Session, account_id: str) -> list[ContactEvent]:
    """The account's contact log as gate events, oldest first."""
    rows = session.execute(
        select(db.ContactLog).where(db.ContactLog.account_id == account_id).order_by(db.ContactLog.at, db.ContactLog.id)
    ).scalars()
    return [ContactEvent(_aware(r.at), str(r.event), str(r.channel), r.detail) for r in rows]


def gate_contact(
    session: Session, account: db.Account, channel: str, now: datetime, actor: str, initiated_by: str = "creditor"
) -> Decision:
    """Ask the gate about one outbound contact to ``account`` and audit the answer."""
    request = ContactRequest(
        account_id=str(account.id),
        jurisdiction=str(account.jurisdiction),
        channel=channel,
        address_time_zone=str(account.time_zone),
        phone_e164=str(account.debtor.phone_e164),
        initiated_by=initiated_by,
    )
    decision = check(request, history_for(session, str(account.id)), now)
    audit.record(
        session,
        actor=actor,
        action=f"outbound_{channel}",
        outcome=decision.outcome,
        reasons=[r.code for r in decision.reasons],
        account_id=str(account.id),
        detail={
            "defer_until": decision.defer_until.isoformat() if decision.defer_until else None,
            "citations": [r.citation for r in decision.reasons],
        },
    )
    return decision


def lint_outgoing(text: str, jurisdiction: str | None, channel: str) -> LintResult:
    """Lint against the debtor's profile, or against every profile when the debtor is not known."""
    if jurisdiction:
        return lint(text, profile_for(jurisdiction), channel)
    results = [lint(text, p, channel) for p in all_profiles()]
    violations = tuple(v for r in results for v in r.violations)
    return LintResult(
        violations, any(r.missing_footer for r in results), results[0].sms, any(r.too_long for r in results)
    )
