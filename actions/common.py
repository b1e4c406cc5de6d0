"""What the actions share: the sender context, the linked account, and the records every action
writes (contact log, audit log). Actions import these; this module imports no action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from babel.dates import format_date
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet

from bot import db
from bot.compliance import audit
from bot.compliance.service import conversation_holds
from bot.context import SenderContext, contact_channel, from_metadata, resolve_now
from bot.money import Money
from bot.settings import contact_for
from bot.texts import Texts, texts_for
from bot.verification import sender_phone


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


def channel_of(tracker: Tracker) -> str:
    """sms, voice, webchat or rest: the contact channel of the latest message."""
    return contact_channel(tracker.get_latest_input_channel())


def sender_context(tracker: Tracker, account: db.Account | None = None) -> SenderContext:
    """The sender context the channel resolved for the latest message (its metadata, or the
    session's first message's for an action run with no user message of its own), else resolved
    now by the same rule; placed by ``account`` when the conversation is linked to one."""
    metadata = (tracker.latest_message or {}).get("metadata")
    context = from_metadata(metadata) or from_metadata(tracker.get_slot("session_started_metadata"))
    if context is None:
        context = resolve_now(tracker.sender_id, channel_of(tracker))
    return context.for_account(account)


def texts_of(tracker: Tracker) -> Texts:
    """The texts (``data/texts``) in the conversation's language (slot ``language``), with its
    jurisdiction's wording."""
    context = sender_context(tracker)
    return texts_for(tracker.get_slot("language") or context.language, context.jurisdiction)


@dataclass(frozen=True)
class Wording:
    """How this conversation is worded: ``texts`` in its language, money and dates in the Babel
    ``locale`` of that language in the account's jurisdiction (``data/company.yml``)."""

    texts: Texts
    locale: str

    def money(self, value: Money) -> str:
        """``value`` with its currency, in the locale ("$1,240.50", "¥8,600.00")."""
        return value.format(self.locale)

    def day(self, value: date, style: str = "full") -> str:
        """``value`` in the locale ("Friday, December 4, 2026"; ``style`` "medium": "Dec 4, 2026")."""
        return str(format_date(value, format=style, locale=self.locale))


def wording(tracker: Tracker, account: db.Account | None = None) -> Wording:
    """The conversation's wording: its language (slot ``language``, else the sender's) in the
    account's jurisdiction (else the sender's)."""
    context = sender_context(tracker)
    language = tracker.get_slot("language") or context.language
    jurisdiction = str(account.jurisdiction) if account is not None else context.jurisdiction
    return Wording(texts_for(language, jurisdiction), contact_for(jurisdiction).locale_for(language))


def load_account(tracker: Tracker) -> db.Account | None:
    """The account linked to the conversation (slot ``account_id``), detached, or None."""
    account_id = tracker.get_slot("account_id")
    if not account_id:
        return None
    with db.session_scope() as session:
        account = session.get(db.Account, account_id)
        if account is not None:
            session.expunge(account)
        return account


def is_verified(tracker: Tracker) -> bool:
    """Whether right-party contact is confirmed for the linked account."""
    return bool(tracker.get_slot("identity_verified")) and bool(tracker.get_slot("account_id"))


def log_event(tracker: Tracker, event: str, account_id: str | None = None, detail: str | None = None) -> None:
    """An inbound contact-log row for this conversation (default account: the linked one)."""
    with db.session_scope() as session:
        db.log_contact(
            session,
            account_id=account_id or tracker.get_slot("account_id"),
            channel=channel_of(tracker),
            direction="inbound",
            event=event,
            conversation_id=tracker.sender_id,
            detail=detail,
        )


def audit_event(tracker: Tracker, action: str, reasons: list[str] | None = None, detail: Any = None) -> None:
    """An audit-log entry for a compliance-relevant event the bot recorded."""
    with db.session_scope() as session:
        audit.record(
            session,
            actor="bot",
            action=action,
            outcome="recorded",
            reasons=reasons or [],
            account_id=tracker.get_slot("account_id"),
            detail=detail,
        )


def current_hold(tracker: Tracker) -> str | None:
    """The collection hold in force for the linked account right now (from the contact log)."""
    account_id = tracker.get_slot("account_id")
    if not account_id:
        return None
    with db.session_scope() as session:
        account = session.get(db.Account, account_id)
        hold, _ = conversation_holds(session, account, channel_of(tracker), tracker.sender_id, now())
    return hold


def stop_form(tracker: Tracker) -> list[EventType]:
    """Events that end any active form, for requests that must interrupt it."""
    return [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop.get("name") else []


def ledger_entry(tracker: Tracker) -> dict[str, Any]:
    """Who and where for an opt-out ledger entry made in this conversation."""
    return {
        "address": sender_phone(tracker.sender_id) or tracker.sender_id,
        "channel": channel_of(tracker),
        "account_id": tracker.get_slot("account_id"),
        "actor": "bot",
        "conversation_id": tracker.sender_id,
    }
