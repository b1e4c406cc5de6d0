"""The compliance engine over the system of record: contact history from the contact log,
gate decisions and lint results written to the audit log."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.compliance.gate import ContactEvent, ContactRequest, Decision, active_holds, check
from bot.compliance.lint import LintResult, lint
from bot.compliance.profiles import all_profiles, profile_for


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def history_for(session: Session, account_id: str) -> list[ContactEvent]:
    """The account's contact log as gate events, oldest first. On SMS and voice the conversation
    id is the phone number, which is the event's address (caps per contact method count by it)."""
    rows = session.execute(
        select(db.ContactLog).where(db.ContactLog.account_id == account_id).order_by(db.ContactLog.at, db.ContactLog.id)
    ).scalars()
    return [
        ContactEvent(
            _aware(r.at),
            str(r.event),
            str(r.channel),
            r.detail,
            address=str(r.conversation_id) if r.channel in ("sms", "voice") and r.conversation_id else None,
            phone_kind=r.phone_kind,
        )
        for r in rows
    ]


def gate_contact(
    session: Session,
    account: db.Account,
    channel: str,
    now: datetime,
    actor: str,
    initiated_by: str = "creditor",
    phone: db.PhoneNumber | None = None,
) -> Decision:
    """Ask the gate about one outbound contact to ``account`` and audit the answer. ``phone`` is
    the typed number called or texted (default: the debtor's primary, mobile number)."""
    request = ContactRequest(
        account_id=str(account.id),
        jurisdiction=str(account.jurisdiction),
        channel=channel,
        address_time_zone=str(account.time_zone),
        phone_e164=str(phone.e164) if phone is not None else str(account.debtor.phone_e164),
        initiated_by=initiated_by,
        phone_kind=str(phone.kind) if phone is not None else None,
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


def conversation_holds(
    session: Session, account: db.Account | None, channel: str, address: str, now: datetime
) -> tuple[str | None, bool]:
    """(the collection hold in force for the account, whether this address opted out of this
    channel) at the start of or during a conversation. The hold is the id of the first active
    hold with scope "all" (dispute, attorney, bankruptcy, deceased, cease, crisis, ...)."""
    opted_out = (
        session.execute(
            select(db.OptOut).where(db.OptOut.address == address, db.OptOut.channel == channel).limit(1)
        ).first()
        is not None
    )
    if account is None:
        return None, opted_out
    profile = profile_for(str(account.jurisdiction))
    request = ContactRequest(str(account.id), str(account.jurisdiction), channel, str(account.time_zone))
    codes = [
        r.code.removeprefix("hold_") for r in active_holds(profile, request, history_for(session, str(account.id)), now)
    ]
    scoped_all = {h.id for h in profile.holds if h.scope == "all"}
    return next((h for h in codes if h in scoped_all), None), opted_out or "opt_out" in codes


def lint_outgoing(text: str, jurisdiction: str | None, channel: str, time_barred: bool = False) -> LintResult:
    """Lint against the debtor's profile, or against every profile when the debtor is not known;
    ``time_barred`` adds the rules for a time-barred debt (12 CFR 1006.26(b))."""
    if jurisdiction:
        return lint(text, profile_for(jurisdiction), channel, time_barred)
    results = [lint(text, p, channel) for p in all_profiles()]
    violations = tuple(v for r in results for v in r.violations)
    return LintResult(
        violations, any(r.missing_footer for r in results), results[0].sms, any(r.too_long for r in results)
    )
