"""A collector's reply, in the debtor's own channel, after the compliance checks.

Every reply passes the content lint (prohibited wording, per jurisdiction) and, for SMS and
voice, the contact gate; a refusal is audited and nothing is sent. SMS goes through the real
twilio client (TWILIO_API_BASE_URL), web chat through the bot's socket, voice as a call-back
(placed now when the gate allows it, else scheduled for when it will). A REST client cannot be
sent anything: its reply is kept by the bot and handed to the client the next time it calls, as a
closed web chat shows a reply when the debtor returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from twilio.base.exceptions import TwilioRestException

from bot import db
from bot.compliance import audit
from bot.compliance.profiles import Profile, profile_for
from bot.compliance.service import gate_contact, lint_outgoing
from bot.context import resolve
from bot.handoff import Ticket, handoff_rules
from bot.language import detect
from bot.settings import contact_for
from bot.sms import split_for_sms
from bot.telephony import SendError, TwilioSender, TwilioSettings
from bot.texting import text_debtor
from bot.texts import texts_for
from bot.verification import sender_phone
from console import rasa_api

logger = logging.getLogger(__name__)
WINDOW_CODES = {"outside_contact_window", "inconvenient_time"}
REST_KEPT = (
    "kept for the debtor: a REST conversation cannot be sent a message, so they see it only when their "
    "app calls again (with their next message, or when it checks for replies); if that matters, also "
    "contact them by phone or SMS on the account"
)


@dataclass
class Delivery:
    """What happened to a reply: ``sent`` (or scheduled), the ``channel``, a human ``detail``,
    and the rule codes that ``blocked`` it."""

    sent: bool
    channel: str
    detail: str
    blocked: list[str] = field(default_factory=list)


def _twilio(config: dict[str, Any]) -> TwilioSender:
    """The project's Twilio sender, with the console's settings (no status callbacks)."""
    return TwilioSender(TwilioSettings.from_env({k: str(v) for k, v in config.items() if k.startswith("TWILIO_")}))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=db.utcnow().tzinfo)


def _live(last_debtor_at: datetime | None, now: datetime) -> bool:
    minutes = handoff_rules().live_conversation_minutes
    return last_debtor_at is not None and now - _aware(last_debtor_at) <= timedelta(minutes=minutes)


def deliver(
    config: dict[str, Any], ticket: Ticket, collector: str, text: str, last_debtor_at: datetime | None, now: datetime
) -> Delivery:
    """Check and send ``text`` from ``collector`` for ``ticket``. ``last_debtor_at`` (aware UTC)
    is when the debtor last wrote; within ``live_conversation_minutes`` the contact window is
    not applied. Holds in ``reply_despite_holds`` (data/handoff.yml) do not stop a reply."""
    channel = ticket.channel
    rules = handoff_rules()
    scheduled: datetime | None = None
    with db.session_scope(config["DATABASE_URL"]) as session:
        account = session.get(db.Account, ticket.account_id) if ticket.account_id else None
        # placed as the bot places the sender (bot/context.py); an unknown sender's text is
        # linted against every profile, as the bot's own replies to them are
        # in the language the collector writes in (a Chinese reply gets the Chinese footer)
        context = resolve(session, ticket.conversation_id, channel).for_account(account).speaking(detect(text))
        jurisdiction = context.jurisdiction if context.account_id else None
        profile = profile_for(context.jurisdiction)
        if channel == "sms":
            text = with_later_disclosure(text, ticket, profile, context.language, _live(last_debtor_at, now))
        bodies = (
            split_for_sms(
                [text], profile.sms_footer(context.language), profile.sms_max_segments, profile.sms_footer_per_reply
            )
            if channel == "sms"
            else [text]
        )
        codes = sorted({v.rule for b in bodies for v in lint_outgoing(b, jurisdiction, channel).violations})
        if not codes and account is not None and channel in ("sms", "voice"):
            decision = gate_contact(
                session, account, channel, now, actor=f"collector:{collector}", initiated_by="debtor"
            )
            codes = [
                r.code
                for r in decision.reasons
                if r.code not in rules.reply_despite_holds
                and not (r.code in WINDOW_CODES and _live(last_debtor_at, now))
            ]
            deferrable = all(c in WINDOW_CODES or c.startswith("cap_") for c in codes)
            if channel == "voice" and codes and decision.outcome == "defer" and deferrable:
                scheduled, codes = decision.defer_until, []
        audit.record(
            session,
            actor=f"collector:{collector}",
            action="collector_reply",
            outcome="blocked" if codes else "allowed",
            reasons=codes,
            account_id=ticket.account_id,
            detail={"ticket": ticket.id, "channel": channel, "text": text[:500]},
        )
        phone = sender_phone(ticket.conversation_id) or (str(account.debtor.phone_e164) if account else None)
    if codes:
        return Delivery(False, channel, "not sent: " + ", ".join(codes), codes)
    if channel == "sms":
        return _send_sms(config, ticket, collector, phone, bodies)
    if channel == "voice" and scheduled is not None:
        when = scheduled.isoformat()
        _log(config, ticket, "voice", "callback_scheduled", f"at {when} collector:{collector} {text[:200]}")
        return Delivery(True, "voice", f"call-back scheduled for {when} (the earliest time the contact gate allows)")
    if channel == "voice":
        return _call_back(config, ticket, collector, phone, text)
    if channel == "webchat":
        try:
            connected = rasa_api.webchat_send(config, ticket.conversation_id, text, by=collector)
        except rasa_api.RasaUnavailable as exc:
            return Delivery(False, channel, f"not sent: {exc}", ["webchat_unreachable"])
        _log(config, ticket, "webchat", "collector_reply", f"{collector}: {text[:200]}")
        if connected:
            return Delivery(True, channel, "sent to the chat")
        return _closed_chat(config, ticket, collector, text, now, _live(last_debtor_at, now))
    if channel == "rest":
        try:
            rasa_api.rest_keep(config, ticket.conversation_id, text, by=collector)
        except rasa_api.RasaUnavailable as exc:
            return Delivery(False, channel, f"not sent: {exc}", ["rest_unreachable"])
        _log(config, ticket, "rest", "collector_reply", f"{collector}: {text[:200]}")
        return Delivery(True, channel, REST_KEPT)
    return Delivery(False, channel, f"no way to reach the debtor on channel {channel!r}", ["no_push_channel"])


def with_later_disclosure(text: str, ticket: Ticket, profile: Profile, language: str, live: bool) -> str:
    """``text`` opened with the profile's later disclosure ("This message is from a debt
    collector.", 12 CFR 1006.18(e)(2); CONC 7.9.4R; NIFA 2018 art. 14) when the reply is a new
    communication to the right party: the debtor was verified in the conversation and last wrote
    more than ``live_conversation_minutes`` ago (within them the reply belongs to the
    conversation that already gave it). Unchanged for a party never verified (saying "debt" to
    them would disclose it, 15 U.S.C. 1692c(b)) or when the collector already said it."""
    disclosure = profile.disclosures.later.text_for(language)
    if live or ticket.summary.get("verification") != "verified" or disclosure in text:
        return text
    return f"{disclosure} {text}"


def _closed_chat(
    config: dict[str, Any], ticket: Ticket, collector: str, text: str, now: datetime, live: bool
) -> Delivery:
    """A reply to a web chat nobody has open: the chat shows it when the debtor returns, and it
    also goes by SMS to the account's own number when the debtor was verified in the chat and
    consent to texts is on file (``bot.texting``: opt-out and holds checked, and the contact
    window unless the debtor wrote within ``live_conversation_minutes``, ``live``)."""
    waiting = "the chat is closed: the debtor will see it when they come back to the chat"
    if not ticket.account_id or ticket.summary.get("verification") != "verified":
        return Delivery(True, "webchat", waiting)
    with db.session_scope(config["DATABASE_URL"]) as session:
        account = session.get(db.Account, ticket.account_id)
        if account is None:
            return Delivery(True, "webchat", waiting)
        # in the language the collector wrote in, else the debtor's own
        language = detect(text) or account.debtor.language or contact_for(str(account.jurisdiction)).language
        texts = texts_for(language, str(account.jurisdiction))
        outcome = text_debtor(
            session,
            account,
            texts.get("webchat.sms_fallback", text=text),
            now=now,
            actor=f"collector:{collector}",
            event="collector_reply_sms",
            conversation_id=ticket.conversation_id,
            settings=TwilioSettings.from_env({k: str(v) for k, v in config.items() if k.startswith("TWILIO_")}),
            live=live,
            language=language,
        )
    if outcome.sent:
        return Delivery(True, "webchat", f"{waiting}; also sent by SMS (consent on file): {', '.join(outcome.sids)}")
    return Delivery(True, "webchat", f"{waiting} (no SMS: {outcome.reason.replace('_', ' ')})")


def _log(config: dict[str, Any], ticket: Ticket, channel: str, event: str, detail: str) -> None:
    with db.session_scope(config["DATABASE_URL"]) as session:
        db.log_contact(
            session,
            account_id=ticket.account_id,
            channel=channel,
            direction="outbound",
            event=event,
            conversation_id=ticket.conversation_id,
            detail=detail,
        )


def _send_sms(config: dict[str, Any], ticket: Ticket, collector: str, phone: str | None, bodies: list[str]) -> Delivery:
    if not phone:
        return Delivery(False, "sms", "no phone number for this conversation", ["no_address"])
    sender = _twilio(config)
    sids = []
    for body in bodies:
        try:
            sid = sender.sms(phone, body)
        except SendError as exc:
            _log(config, ticket, "sms", "sms_failed", f"collector:{collector} {exc}")
            refused = isinstance(exc.__cause__, TwilioRestException)
            return Delivery(
                False,
                "sms",
                f"Twilio {'refused the message' if refused else 'unreachable'}: {exc}",
                ["twilio_error" if refused else "twilio_unreachable"],
            )
        sids.append(sid)
        _log(config, ticket, "sms", "sms_reply", f"{sid} collector:{collector} {body[:200]}")
    return Delivery(True, "sms", f"sent as SMS ({', '.join(sids)})")


def _call_back(config: dict[str, Any], ticket: Ticket, collector: str, phone: str | None, text: str) -> Delivery:
    """Voice: call the debtor now, say the message and connect to COLLECTOR_PHONE."""
    if not phone:
        return Delivery(False, "voice", "no phone number for this conversation", ["no_address"])
    dial = f"<Dial>{escape(config['COLLECTOR_PHONE'])}</Dial>" if config.get("COLLECTOR_PHONE") else ""
    twiml = f"<Response><Say>{escape(text)}</Say>{dial}</Response>"
    try:
        sid = _twilio(config).call(phone, twiml=twiml)
    except SendError as exc:
        _log(config, ticket, "voice", "callback_failed", f"collector:{collector} {exc}")
        return Delivery(False, "voice", f"call-back not placed: {exc}", ["twilio_error"])
    _log(config, ticket, "voice", "callback_placed", f"{sid} collector:{collector} {text[:200]}")
    return Delivery(True, "voice", f"call-back placed ({sid})")
