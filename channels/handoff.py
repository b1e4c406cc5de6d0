"""Handoff in the channels: after each bot turn, open a ticket when the turn set the slot
``handoff_reason`` (or the bot failed to understand twice in a row), and while a ticket is open
keep the bot silent, store the debtor's messages and show them in the console.

The queue and its rules are in :mod:`bot.handoff`; this module adapts them to Rasa's agent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot import db
from bot.compliance.profiles import contact_channel
from bot.context import SenderContext, from_metadata, resolve_now
from bot.handoff import (
    HandoffQueue,
    build_summary,
    fallback_streak,
    opening_hours,
    reason_set_in_last_turn,
    reply_eta,
)
from bot.safety import crisis_rule, helpline_for, record_crisis
from bot.texts import Texts, texts_for
from bot.verification import parse_account_reference, parse_phone

logger = logging.getLogger(__name__)
FALLBACKS_BEFORE_HANDOFF = 2
# while a person has the conversation, these still reach the bot: stopping contact is the
# debtor's right at any moment (12 CFR 1006.6(e), 1006.14(h); 15 U.S.C. 1692c(c))
ANSWERED_WHILE_WAITING = frozenset({"opt_out", "cease_contact"})
PASS_CONFIDENCE = 0.7  # the FallbackClassifier threshold of config.yml
HELPLINE_INTENTS = frozenset({"express_distress"})


def _named_account(text: str, jurisdiction: str) -> str | None:
    """The account of an account reference or a phone number on file in ``text``, or None."""
    reference = parse_account_reference(text)
    region = "GB" if jurisdiction.startswith("UK") else "CN" if jurisdiction.startswith("CN") else "US"
    phone = None if reference else parse_phone(text, region)
    if not reference and not phone:
        return None
    with db.session_scope() as session:
        account = db.find_account(session, reference=reference, phone_e164=phone)
        return str(account.id) if account is not None else None


def channel_of(message: UserMessage) -> str:
    """sms, voice, webchat or rest for the message's input channel."""
    return contact_channel(message.input_channel)


def linked_context(message: UserMessage, account_id: str | None) -> SenderContext:
    """The message's sender context (its metadata, else resolved now) placed by the account the
    conversation is linked to (slot ``account_id``), when that is not the sender's own."""
    context = from_metadata(message.metadata) or resolve_now(message.sender_id, channel_of(message))
    if account_id and account_id != context.account_id:
        with db.session_scope() as session:
            account = session.get(db.Account, account_id)
            if account is not None:
                session.expunge(account)
        context = context.for_account(account)
    return context


def _open_promises(account_id: str | None) -> list[str]:
    if not account_id:
        return []
    with db.session_scope() as session:
        rows = session.query(db.PromiseToPay).filter_by(account_id=account_id, status="open").all()
        return [f"PTP-{r.id} {r.amount} due {r.due_date.isoformat()}" for r in rows]


async def after_turn(
    agent: Any,
    red: redis.Redis,
    message: UserMessage,
    output: OutputChannel,
    tracker: DialogueStateTracker | None = None,
) -> None:
    """Open a ticket when this turn asked for a person; tell the debtor when one will reply.
    A turn that is the second "didn't understand" in a row opens one with reason ``fallback``
    and records ``SlotSet("handoff_reason", "fallback")`` in the tracker. ``tracker`` is the one
    the turn saved, when the caller has it; else it is loaded from the tracker store."""
    if tracker is None:
        tracker = await agent.tracker_store.retrieve(message.sender_id)
    if tracker is None:
        return
    events = [e.as_dict() for e in tracker.events]
    reason = reason_set_in_last_turn(events)
    from_guard = False
    if reason is None and fallback_streak(events) >= FALLBACKS_BEFORE_HANDOFF:
        reason, from_guard = "fallback", True
    if reason is None:
        return
    queue = HandoffQueue(red)
    slots = tracker.current_slot_values()
    context = linked_context(message, slots.get("account_id"))
    account_id = context.account_id
    summary = build_summary(events, slots, _open_promises(account_id))
    ticket, created = queue.open(
        conversation_id=message.sender_id,
        channel=channel_of(message),
        reason=reason,
        account_id=account_id,
        summary=summary,
    )
    if from_guard:
        async with agent.lock_store.lock(message.sender_id):
            tracker = await agent.tracker_store.retrieve(message.sender_id)
            tracker.update(SlotSet("handoff_reason", reason))
            await agent.tracker_store.save(tracker)
    if created:
        context = context.speaking(slots.get("language"))
        if channel_of(message) != "rest":
            key = "handoff.notice"
        else:
            key = "handoff.notice_no_push" if account_id else "handoff.notice_no_contact"
        notice = texts_of(context).get(key, eta=eta_for(context, db.utcnow()))
        await output.send_text_message(message.sender_id, notice)
        queue.add_message(message.sender_id, "bot", notice)
        logger.info("handoff ticket %s opened for %s: %s", ticket.id, message.sender_id, ticket.reason)


async def paused_turn(agent: Any, red: redis.Redis, message: UserMessage, output: OutputChannel) -> bool:
    """If a ticket is open for this conversation: store the message (tracker and live transcript),
    keep the bot quiet, and return True. Never silent, though:

    - a crisis message raises the ticket to crisis priority and, while nobody has claimed it,
      gets the helpline at once; so does every other message while a crisis ticket waits for a
      person (``crisis_holding_reply`` in data/handoff.yml): someone in crisis is never met with
      silence; distress short of a crisis gets the helpline too;
    - an opt-out or a request to stop all contact (:data:`ANSWERED_WHILE_WAITING`) goes to the
      bot as usual (return False), which records it and confirms it;
    - an account reference or a phone number on file links the conversation and the ticket to
      that account (slot ``account_id``), with the same answer whether it matched or not;
    - anything else gets the holding reply at most once per ``holding_minutes``, with when a
      person will reply and the opening hours, both in the debtor's time zone; within that time a
      request for a person is told it is already queued, and any other message gets a short
      acknowledgement (texts ``handoff.*``, in the conversation's language);
    - once a collector has claimed the ticket, the collector answers and the bot says nothing.

    Return False when no ticket is open."""
    queue = HandoffQueue(red)
    ticket_id = queue.open_ticket_id(message.sender_id)
    if ticket_id is None and not queue.is_paused(message.sender_id):
        return False
    parse = await agent.processor.parse_message(message)
    intent = parse.get("intent") or {}
    if intent.get("name") in ANSWERED_WHILE_WAITING and float(intent.get("confidence") or 0) >= PASS_CONFIDENCE:
        queue.add_message(message.sender_id, "debtor", message.text or "")
        return False  # the bot records and confirms it; the ticket stays for the collector
    async with agent.lock_store.lock(message.sender_id):
        # parsed and stored like any message, but no action is predicted: the bot says nothing
        tracker = await agent.processor.log_message(message, should_save_tracker=False)
        linked = None
        named = False
        if not tracker.get_slot("account_id"):
            named = _names_an_account(message.text or "")
            context = linked_context(message, None)
            linked = _named_account(message.text or "", context.jurisdiction) if named else None
            if linked is not None:
                tracker.update(SlotSet("account_id", linked))
        await agent.processor.save_tracker(tracker)
    queue.add_message(message.sender_id, "debtor", message.text or "")
    ticket = queue.get(ticket_id) if ticket_id is not None else None
    slots = tracker.current_slot_values()
    context = linked_context(message, slots.get("account_id")).speaking(slots.get("language"))
    account_id = context.account_id
    texts = texts_of(context)
    parse = tracker.latest_message.parse_data if tracker.latest_message else {}
    crisis = ticket is not None and crisis_rule().matches(parse)  # SafetyPolicy's rule, from config.yml
    with db.session_scope() as session:  # one transaction for the message and any crisis rows
        db.log_contact(
            session,
            account_id=account_id,
            channel=channel_of(message),
            direction="inbound",
            event="message_during_handoff",
            conversation_id=message.sender_id,
            detail=(message.text or "")[:500],
        )
        if crisis:  # the contact gate holds collection contact after crisis language (data/compliance)
            record_crisis(
                session,
                account_id=account_id,
                channel=channel_of(message),
                conversation_id=message.sender_id,
                detail="priority=1 crisis language while waiting for a person",
            )
    if ticket is not None and crisis:
        queue.open(
            conversation_id=message.sender_id,
            channel=ticket.channel,
            reason="crisis",
            account_id=account_id,
            summary=ticket.summary,
        )
        if ticket.status == "queued":
            await _say(queue, output, message.sender_id, helpline_for(context.jurisdiction).text)
        return True
    if ticket is not None and linked is not None:
        queue.link_account(ticket.id, linked)
    if ticket is None or ticket.status != "queued":
        return True  # a collector has the conversation: they answer, the bot stays out of it
    now = db.utcnow()
    eta = eta_for(context, now)
    if ticket.reason == "crisis":
        helpline = helpline_for(context.jurisdiction).text
        await _say(
            queue, output, message.sender_id, texts.get("handoff.crisis_holding_reply", helpline=helpline, eta=eta)
        )
        return True
    if named:
        # the same words whether the reference matched or not (no enumeration of references)
        await _say(queue, output, message.sender_id, texts.get("handoff.reference_noted", eta=eta))
        queue.holding_reply_due(message.sender_id)  # counts as the holding reply
        return True
    if (parse.get("intent") or {}).get("name") in HELPLINE_INTENTS:
        await _say(queue, output, message.sender_id, helpline_for(context.jurisdiction).text)
        return True
    if queue.holding_reply_due(message.sender_id):
        hours = opening_hours(
            now, context.time_zone, context.locale, jurisdiction=context.jurisdiction, language=texts.language
        )
        reply = texts.get("handoff.holding_reply", eta=eta, hours=hours)
    elif (parse.get("intent") or {}).get("name") == "request_human":
        reply = texts.get("handoff.already_queued", eta=eta)
    else:  # within the quarter hour: a short acknowledgement, never silence
        reply = texts.get("handoff.still_waiting", eta=eta)
    await _say(queue, output, message.sender_id, reply)
    return True


async def _say(queue: HandoffQueue, output: OutputChannel, sender_id: str, text: str) -> None:
    """Send ``text`` to the debtor and keep it in the live transcript the collector sees."""
    await output.send_text_message(sender_id, text)
    queue.add_message(sender_id, "bot", text)


def texts_of(context: SenderContext) -> Texts:
    """The texts in the context's language, with its jurisdiction's overrides."""
    return texts_for(context.language, context.jurisdiction)


def eta_for(context: SenderContext, now: datetime) -> str:
    """When a person will reply, said in the context's language, locale and time zone."""
    return reply_eta(
        now, context.time_zone, context.locale, jurisdiction=context.jurisdiction, language=context.language
    )


def _names_an_account(text: str) -> bool:
    """Whether ``text`` gives an account reference or a phone number, matched or not."""
    return bool(parse_account_reference(text) or parse_phone(text))
