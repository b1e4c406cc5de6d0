"""The opt-out ledger: a debtor's STOP (or START) on one channel, kept in the system of record,
the contact log (which the contact gate reads) and the audit log. Sources: 12 CFR 1006.6(e),
1006.14(h); 47 CFR 64.1200 (TCPA)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot import db
from bot.compliance import audit


def record_opt_out(
    session: Session,
    *,
    address: str,
    channel: str,
    account_id: str | None,
    actor: str,
    conversation_id: str,
    wording: str = "",
) -> None:
    """Suppress ``channel`` for ``address`` (E.164 phone or chat sender id)."""
    session.add(db.OptOut(address=address, channel=channel, account_id=account_id, wording=wording[:500]))
    db.log_contact(
        session,
        account_id=account_id,
        channel=channel,
        direction="inbound",
        event="opt_out",
        conversation_id=conversation_id,
    )
    audit.record(
        session, actor=actor, action="opt_out", outcome="recorded", account_id=account_id, detail={"channel": channel}
    )


def record_opt_in(
    session: Session, *, address: str, channel: str, account_id: str | None, actor: str, conversation_id: str
) -> int:
    """Lift ``address``'s opt-out on ``channel``; returns how many ledger rows were removed."""
    removed = session.query(db.OptOut).filter_by(address=address, channel=channel).delete()
    db.log_contact(
        session,
        account_id=account_id,
        channel=channel,
        direction="inbound",
        event="opt_in",
        conversation_id=conversation_id,
        detail=f"{removed} opt-out record(s) lifted",
    )
    audit.record(
        session, actor=actor, action="opt_in", outcome="recorded", account_id=account_id, detail={"channel": channel}
    )
    return int(removed)
