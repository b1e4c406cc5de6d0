"""Pay now, for the actions that offer it: a link to the payment provider's page, in the message
or, on a call, texted to the debtor's own number (``bot.repayment.payment_links``,
``bot.texting``). A helper module: it imports no action."""

from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, now, sender_context, wording
from bot import db
from bot.money import Money
from bot.repayment.payment_links import PaymentLinkError, PaymentSettings, create_link
from bot.settings import contact_for
from bot.texting import text_debtor

logger = logging.getLogger(__name__)


def _make_link(
    account: db.Account, amount: Money, purpose: str, promise_id: int | None, channel: str, conversation_id: str
) -> tuple[str, Money]:
    """(url, amount) of a payment page for the account (database and provider calls: run it in
    a thread). Raises PaymentLinkError."""
    with db.session_scope() as session:
        row = session.get(db.Account, account.id)
        if row is None:
            raise PaymentLinkError(f"no account {account.id}")
        link = create_link(
            session,
            PaymentSettings.from_env(),
            account=row,
            amount=amount,
            purpose=purpose,
            channel=channel,
            conversation_id=conversation_id,
            promise_id=promise_id,
        )
        return str(link.url), link.amount


def _text_link(account: db.Account, text: str, conversation_id: str, language: str) -> bool:
    """Text the payment link to the debtor's own number (consent, opt-out and gate checked), with
    the opt-out footer in ``language``."""
    with db.session_scope() as session:
        row = session.get(db.Account, account.id)
        if row is None:
            return False
        outcome = text_debtor(
            session,
            row,
            text,
            now=now(),
            actor="bot",
            event="payment_link_sms",
            conversation_id=conversation_id,
            live=True,  # asked for on the call now
            language=language,
        )
        return outcome.sent


async def offer_payment_link(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    account: db.Account,
    amount: Money,
    purpose: str,
    promise_id: int | None = None,
    template: str = "payment.link",
    transfer: bool = True,
) -> list[EventType]:
    """Pay now: a link to the payment provider's page for ``amount``, in the message (``template``
    of ``data/texts``), or on a call texted to the debtor's own number with consent on file;
    on a call without consent (or when the text cannot go) the caller who asked how to pay
    (``transfer``) is put through to a person (slot ``handoff_reason`` = ``payment_by_phone``;
    the voice channel dials a collector). The bot never takes card details itself. A provider
    failure gets the phone number instead."""
    w = wording(tracker, account)
    t = w.texts
    channel = channel_of(tracker)
    try:
        url, amount = await asyncio.to_thread(
            _make_link,
            account,
            amount,
            purpose,
            promise_id,
            "sms" if channel == "voice" else channel,
            tracker.sender_id,
        )
    except (PaymentLinkError, ValueError) as exc:
        logger.error("payment link not created: %s", exc)
        dispatcher.utter_message(
            text=t.get("payment.link_unavailable", company_phone=contact_for(str(account.jurisdiction)).phone)
        )
        return []
    said = w.money(amount)
    if channel != "voice":
        dispatcher.utter_message(text=t.get(template, amount=said, url=url))
        return []
    sms = t.get("payment.sms_link", amount=said, url=url)
    language = tracker.get_slot("language") or sender_context(tracker, account).language
    if await asyncio.to_thread(_text_link, account, sms, tracker.sender_id, language):
        dispatcher.utter_message(text=t.get("payment.voice_link_texted", amount=said))
        return []
    if not transfer:
        return []
    dispatcher.utter_message(text=t.get("payment.voice_transfer"))
    return [SlotSet("handoff_reason", "payment_by_phone")]
