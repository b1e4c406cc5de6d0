"""A text message to the debtor's own number outside an SMS conversation, at the debtor's request:
a payment link asked for on a call, a collector's reply to a web chat the debtor has closed.

It goes only with consent to texts on file (``debtors.sms_consent_at``; TCPA prior express
consent, 47 CFR 64.1200), to a number that has not opted out of SMS (12 CFR 1006.6(e),
1006.14(h)), and when the contact gate allows a debtor-initiated SMS now (holds, contact window,
frequency caps; 12 CFR 1006.6(b), 1006.14). It carries the jurisdiction's opt-out footer and is
worded in GSM-7 where its language allows (:func:`bot.sms.split_for_sms`); every send or refusal
is in the contact log, and the gate's answer in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.compliance.profiles import profile_for
from bot.compliance.service import gate_contact
from bot.sms import split_for_sms
from bot.telephony import SendError, TwilioSender, TwilioSettings


@dataclass(frozen=True)
class TextOutcome:
    """``sent`` with the message SIDs, or not with the ``reason`` code (no_consent, opted_out,
    no_phone, a gate reason such as outside_contact_window, or twilio_error)."""

    sent: bool
    reason: str
    sids: tuple[str, ...] = ()


WINDOW_CODES = frozenset({"outside_contact_window", "inconvenient_time"})


def may_text(session: Session, account: db.Account, now: datetime, actor: str, live: bool = False) -> TextOutcome:
    """Whether a debtor-requested SMS may go to ``account``'s phone at ``now`` (aware UTC);
    the gate's answer is audited under ``actor``. ``live``: the debtor asked for it in a
    conversation going on now (a payment link on a call), so the time is theirs and the contact
    window is not applied (12 CFR 1006.6(b)(1)(i) is about times inconvenient to the consumer);
    holds and opt-outs still are."""
    phone = str(account.debtor.phone_e164 or "")
    if not phone:
        return TextOutcome(False, "no_phone")
    if account.debtor.sms_consent_at is None:
        return TextOutcome(False, "no_consent")
    opted_out = session.execute(
        select(db.OptOut.id).where(db.OptOut.address == phone, db.OptOut.channel == "sms").limit(1)
    ).first()
    if opted_out is not None:
        return TextOutcome(False, "opted_out")
    decision = gate_contact(session, account, "sms", now, actor=actor, initiated_by="debtor")
    blocking = [r.code for r in decision.reasons if not (live and r.code in WINDOW_CODES)]
    if not decision.allowed and (blocking or not decision.reasons):
        return TextOutcome(False, blocking[0] if blocking else decision.outcome)
    return TextOutcome(True, "allowed")


def text_debtor(
    session: Session,
    account: db.Account,
    text: str,
    *,
    now: datetime,
    actor: str,
    event: str,
    conversation_id: str | None,
    settings: TwilioSettings | None = None,
    live: bool = False,
    language: str | None = None,
) -> TextOutcome:
    """Send ``text`` to ``account``'s phone when :func:`may_text` allows it (``live`` as there), through the
    project's Twilio sender; ``event`` names the contact-log row (e.g. ``payment_link_sms``); the
    opt-out footer is in ``language`` (ISO 639-1; None: the jurisdiction profile's default).
    Never raises for a refusal or a Twilio error: the outcome says what happened."""
    allowed = may_text(session, account, now, actor, live)
    phone = str(account.debtor.phone_e164 or "")
    if not allowed.sent:
        db.log_contact(
            session,
            account_id=str(account.id),
            channel="sms",
            direction="outbound",
            event=f"{event}_not_sent",
            conversation_id=conversation_id,
            detail=f"{allowed.reason} ({actor})",
        )
        return allowed
    profile = profile_for(str(account.jurisdiction))
    sender = TwilioSender(settings or TwilioSettings.from_env())
    sids: list[str] = []
    for body in split_for_sms(
        [text], profile.sms_footer(language), profile.sms_max_segments, profile.sms_footer_per_reply
    ):
        try:
            sids.append(sender.sms(phone, body))
        except SendError as exc:
            db.log_contact(
                session,
                account_id=str(account.id),
                channel="sms",
                direction="outbound",
                event=f"{event}_failed",
                conversation_id=conversation_id,
                detail=str(exc)[:300],
            )
            return TextOutcome(False, "twilio_error", tuple(sids))
        db.log_contact(
            session,
            account_id=str(account.id),
            channel="sms",
            direction="outbound",
            event="sms_sent",
            conversation_id=conversation_id,
            detail=f"{sids[-1]} {event} ({actor})",
        )
    return TextOutcome(True, "sent", tuple(sids))
