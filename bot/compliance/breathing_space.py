"""UK Breathing Space (the Debt Respite Scheme (Breathing Space Moratorium and Mental Health Crisis
Moratorium) (England and Wales) Regulations 2020, SI 2020/1311), recorded from the console or the
CLI with the Insolvency Service's reference and the moratorium's type:

- ``standard``: 60 days from the start (reg. 26), unless cancelled earlier;
- ``mental_health``: a mental health crisis moratorium, until 30 days after the debt adviser is
  told the crisis treatment has ended (reg. 32).

While one is active (the ``breathing_space`` holds of data/compliance/uk.yml) nothing invites a
payment anywhere: the contact gate denies outbound contact and reminders, conversations answer
collection talk with the Breathing Space reply and take no promise or plan, and interest and
charges are frozen (reg. 7: no interest, fees or charges may accrue on a moratorium debt); this
module says so for the ledger and the console (:attr:`BreathingSpaceStatus.interest_frozen`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit
from bot.compliance.gate import ContactEvent

KINDS = {"standard": "breathing_space", "mental_health": "breathing_space_mental_health"}
ENDED = "breathing_space_ended"  # mental health crisis treatment ended
CANCELLED = "breathing_space_cancelled"
STANDARD_DAYS = 60
AFTER_TREATMENT_DAYS = 30
CITATION = "SI 2020/1311 (Debt Respite Scheme), regs. 7, 26, 32"


class BreathingSpaceError(ValueError):
    """A Breathing Space record was refused; the message says why."""


@dataclass(frozen=True)
class BreathingSpaceStatus:
    """The account's moratorium: ``kind`` standard or mental_health, the Insolvency Service
    ``reference``, ``started`` and ``ends`` (None while a mental health crisis moratorium's
    treatment goes on), and whether it is ``active`` at the time asked."""

    kind: str
    reference: str
    started: datetime
    ends: datetime | None
    active: bool

    @property
    def interest_frozen(self) -> bool:
        """No interest, fees or charges accrue while the moratorium is active (reg. 7)."""
        return self.active


def _at(day: date | datetime) -> datetime:
    return day if isinstance(day, datetime) else datetime.combine(day, time(0), tzinfo=timezone.utc)


def record_breathing_space(
    session: Session,
    *,
    account_id: str,
    reference: str,
    kind: str,
    start: date | datetime,
    actor: str,
) -> db.ContactLog:
    """Record a moratorium starting on ``start`` (UTC midnight of a date). Raises
    :class:`BreathingSpaceError` for an unknown account, a non-UK account, a missing reference or
    an unknown kind."""
    account = session.get(db.Account, account_id)
    if account is None:
        raise BreathingSpaceError(f"no account {account_id}")
    if not str(account.jurisdiction).startswith("UK"):
        raise BreathingSpaceError(f"{account_id} is not a UK account: Breathing Space is an England and Wales scheme")
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise BreathingSpaceError("the Insolvency Service reference is required (at most 64 characters)")
    if kind not in KINDS:
        raise BreathingSpaceError(f"type must be one of {', '.join(KINDS)}")
    row = db.log_contact(
        session,
        account_id=account_id,
        channel="mail",
        direction="inbound",
        event=KINDS[kind],
        detail=f"reference={reference} type={kind}",
    )
    row.at = _at(start)
    audit.record(
        session,
        actor=actor,
        action=KINDS[kind],
        outcome="recorded",
        account_id=account_id,
        detail={"reference": reference, "type": kind, "start": _at(start).isoformat(), "citation": CITATION},
    )
    return row


def record_treatment_ended(session: Session, *, account_id: str, ended: date | datetime, actor: str) -> db.ContactLog:
    """The debt adviser confirmed the mental health crisis treatment ended on ``ended``: the
    moratorium ends 30 days later (reg. 32)."""
    row = db.log_contact(
        session, account_id=account_id, channel="mail", direction="inbound", event=ENDED, detail="treatment ended"
    )
    row.at = _at(ended)
    audit.record(session, actor=actor, action=ENDED, outcome="recorded", account_id=account_id)
    return row


def breathing_space_status(history: Sequence[ContactEvent], now: datetime) -> BreathingSpaceStatus | None:
    """The latest moratorium in the account's contact log, or None when there never was one."""
    starts = [e for e in history if e.event in KINDS.values()]
    if not starts:
        return None
    start = max(starts, key=lambda e: e.at)
    kind = next(k for k, v in KINDS.items() if v == start.event)
    reference = dict(p.split("=", 1) for p in (start.detail or "").split() if "=" in p).get("reference", "")
    later = [e for e in history if e.at > start.at]
    cancelled = next((e.at for e in later if e.event == CANCELLED), None)
    if kind == "standard":
        ends: datetime | None = start.at + timedelta(days=STANDARD_DAYS)
    else:
        ended = next((e.at for e in sorted(later, key=lambda e: e.at) if e.event == ENDED), None)
        ends = ended + timedelta(days=AFTER_TREATMENT_DAYS) if ended else None
    if cancelled is not None:
        ends = min(ends, cancelled) if ends else cancelled
    active = start.at <= now and (ends is None or now < ends)
    return BreathingSpaceStatus(kind, reference, start.at, ends, active)
