"""What the actions share: the sender context, the linked account, and the records every action
writes (contact log, audit log). Actions import these; this module imports no action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from babel.dates import format_date
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import db
from bot.compliance import audit
from bot.compliance.disclosures import business_name, disclosure_due
from bot.compliance.limitations import status as limitation_status
from bot.compliance.service import conversation_holds
from bot.context import SenderContext, contact_channel, from_metadata, resolve_now
from bot.extraction import today_in
from bot.money import Money
from bot.responses import first_text
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
    jurisdiction: str = ""  # the account's (or the sender's) profile code, e.g. "US-NY"

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
    return Wording(texts_for(language, jurisdiction), contact_for(jurisdiction).locale_for(language), jurisdiction)


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


def greet_by_business_name(dispatcher: CollectingDispatcher, jurisdiction: str | None, language: str | None) -> None:
    """The first words of a conversation, in ``language``: the business name only
    (data/company.yml), nothing that tells a third party the message is about a debt (15 U.S.C.
    1692b, 1692c(b); 12 CFR 1006.6(d)); the identity questions follow. Worded here rather than by
    the server's NLG because the caller's own language slot is not yet applied when Rasa words it."""
    text = first_text("utter_greeting", language).replace("{business_name}", business_name(jurisdiction, language))
    dispatcher.utter_message(text=text)


def disclose(dispatcher: CollectingDispatcher, tracker: Tracker, account: db.Account | None) -> list[EventType]:
    """Once identity is confirmed, before any debt detail: the jurisdiction profile's first
    disclosure (the mini-Miranda, 12 CFR 1006.18(e)(1)) in the first conversation with the right
    party, its later one (1006.18(e)(2)) in a later conversation (bot.compliance.disclosures);
    once per conversation (slot ``disclosure_given``), logged in the contact log. Returns the
    events to add (none when already given or nobody is verified)."""
    if account is None or tracker.get_slot("disclosure_given") or not is_verified(tracker):
        return []
    language = tracker.get_slot("language") or sender_context(tracker, account).language
    with db.session_scope() as session:
        due = disclosure_due(session, str(account.id), str(account.jurisdiction), language)
        db.log_contact(
            session,
            account_id=str(account.id),
            channel=channel_of(tracker),
            direction="outbound",
            event=due.event,
            conversation_id=tracker.sender_id,
            detail=due.citation,
        )
    dispatcher.utter_message(response="utter_disclosure", disclosure=due.text)
    return [SlotSet("disclosure_given", True)]


def paused_response(hold: str, domain: Any) -> str:
    """The response that answers collection talk while ``hold`` is in force: ``utter_paused_<hold>``
    when the domain has one, else the request for a person."""
    response = f"utter_paused_{hold}"
    return response if response in ((domain or {}).get("responses") or {}) else "utter_human_requested"


def collection_stopped(dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[EventType] | None:
    """The last line before any collection step (a balance pitch, a promise, a plan, an
    arrangement): read the account's holds from the contact log now, not from the slot set when
    this conversation started, so a hold reported in another conversation or channel of the same
    account stops this one at once. A hold gets the hold's reply and sets ``collection_hold``; a
    time-barred debt that a payment would revive gets no offer and goes to a person (12 CFR
    1006.26(b); data/limitations.yml). Returns the events to return, or None to go on."""
    account = load_account(tracker) if is_verified(tracker) else None
    if account is None:
        return None
    hold = current_hold(tracker)
    if hold:
        dispatcher.utter_message(response=paused_response(hold, domain))
        return stop_form(tracker) + [
            SlotSet("collection_hold", hold),
            SlotSet("ptp_amount", None),
            SlotSet("ptp_date", None),
            SlotSet("selected_plan", None),
        ]
    if limitation_status(account, today_in(str(account.time_zone))).revival_risk:
        log_event(tracker, "time_barred_no_offer")
        dispatcher.utter_message(response="utter_time_barred_no_offer")
        return stop_form(tracker) + [
            SlotSet("handoff_reason", "time_barred"),
            SlotSet("ptp_amount", None),
            SlotSet("ptp_date", None),
            SlotSet("selected_plan", None),
        ]
    return None


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
