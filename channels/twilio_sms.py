"""Twilio SMS channel at ``/webhooks/twilio_sms/webhook`` (status callbacks at ``.../status``).

What Rasa's stock Twilio channel does not: every request's ``X-Twilio-Signature`` is checked
against PUBLIC_URL (unsigned or forged → 403); a redelivered ``MessageSid`` is processed once;
an MMS with no text is answered; STOP/START/HELP are handled as carriers expect, recorded in
the opt-out ledger and in the conversation's tracker (as ``action_opt_out``/``action_opt_in``,
like a typed opt-out); after an opt-out the bot stays silent on SMS until START (only HELP is
answered), and nothing is sent to an opted-out number except the one confirmation (12 CFR
1006.6(e); 47 CFR 64.1200; CTIA keyword rules). The webhook answers at once and the reply goes out through the REST API
without blocking the event loop, split into messages that each carry the opt-out footer, with
retries; every send, failure and delivery status is in the contact log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db, logmask
from bot.compliance.optout import record_opt_in, record_opt_out
from bot.compliance.profiles import profile_for
from bot.handoff import HandoffQueue, build_summary
from bot.settings import contact_for
from bot.sms import split_for_sms
from bot.verification import sender_phone
from channels.guard import EMPTY_REPLY, TRY_AGAIN, clean_text, handle_guarded
from channels.twilio_common import (
    SmsOutbox,
    TwilioSender,
    TwilioSettings,
    first_delivery,
    forget_delivery,
    signature_ok,
)
from policies.safety_policy import crisis_rule
from stores.redis_store import redis_client

logger = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
MEDIA_ONLY_REPLY = "I can only read the text of messages, not pictures or files. Please type your message."
OPT_OUT_ACTION = "action_opt_out"  # the typed opt-out's action (actions/actions.py); KPIs count it
OPT_IN_ACTION = "action_opt_in"


def _twiml() -> HTTPResponse:
    return response.text(EMPTY_TWIML, content_type="text/xml")


class TwilioSmsInput(InputChannel):
    """Settings come from the environment (see channels.twilio_common.TwilioSettings)."""

    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(TwilioSettings.from_env())

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self.sender = TwilioSender(settings)
        self.outbox = SmsOutbox(self.sender, self._outbox_done, self._outbox_may_send)
        self.red: redis.Redis | None = None  # the tracker store's Redis, once the server runs
        self.tasks: set[asyncio.Task[None]] = set()

    def _status_url(self) -> str:
        return f"{self.settings.public_url}/webhooks/{self.name()}/status"

    def _account(self, phone: str | None) -> tuple[str | None, str]:
        if not phone:
            return None, "US"
        with db.session_scope() as session:
            account = db.find_account(session, phone_e164=phone)
            return (str(account.id), str(account.jurisdiction)) if account else (None, "US")

    def _log(self, account_id: str | None, phone: str, direction: str, event: str, detail: str | None = None) -> None:
        with db.session_scope() as session:
            db.log_contact(
                session,
                account_id=account_id,
                channel="sms",
                direction=direction,
                event=event,
                conversation_id=phone,
                detail=detail,
            )

    async def send(self, phone: str, texts: list[str], opt_out_exempt: bool = False) -> None:
        """Send the texts of one bot turn as SMS, each with the jurisdiction's opt-out footer
        (none to a number already opted out: "Reply STOP to opt out" would end its confirmation).

        The last line of the opt-out rule: while ``phone`` is in the SMS opt-out ledger nothing is
        sent (the texts are logged as ``sms_suppressed``) unless ``opt_out_exempt``, which only the
        one opt-out confirmation and a HELP answer may claim (12 CFR 1006.6(e); 47 CFR 64.1200)."""
        account_id, jurisdiction = self._account(sender_phone(phone))
        opted_out = self._opted_out(phone)
        if not opt_out_exempt and opted_out:
            self._log(account_id, phone, "outbound", "sms_suppressed", f"opted out; body: {' '.join(texts)[:200]}")
            logger.warning("SMS to %s not sent: the number opted out of SMS", phone)
            return
        profile = profile_for(jurisdiction)
        footer = "" if opted_out else profile.sms_opt_out_footer
        queued = 0  # once one part waits in the outbox, the later parts wait behind it (order kept)
        for body in split_for_sms(texts, footer, profile.sms_max_segments):
            if queued:
                sid, error, retryable = None, "queued behind an earlier part", True
            else:
                sid, error, retryable = await self.sender.send_sms(phone, body, self._status_url())
            if sid:
                self._log(account_id, phone, "outbound", "sms_reply", f"{sid} {body[:200]}")
            elif retryable and self._queue(account_id, phone, body, queued, opt_out_exempt):
                queued += 1
                self._log(account_id, phone, "outbound", "sms_retry_queued", f"{error}; body: {body[:200]}")
            else:
                # the debtor's turn is already saved; the failure is visible for a person to follow up
                self._log(account_id, phone, "outbound", "sms_failed", f"{error}; body: {body[:200]}")
                logger.error("SMS to %s not delivered: %s", phone, error)

    def _queue(
        self, account_id: str | None, phone: str, body: str, position: int, opt_out_exempt: bool = False
    ) -> bool:
        """Put a reply Twilio refused for now (5xx, network) in the outbox; False when Redis is down too."""
        if self.red is None:
            return False
        item = {"to": phone, "body": body, "status_callback": self._status_url(), "account_id": account_id}
        if opt_out_exempt:
            item["opt_out_exempt"] = True
        try:
            SmsOutbox.put(self.red, item, order=position)
            return True
        except redis.exceptions.RedisError as exc:
            logger.error("SMS outbox unavailable: %s", exc)
            return False

    def _outbox_done(self, item: dict[str, Any], sid: str | None, error: str | None) -> None:
        phone, body = item["to"], item["body"]
        if sid:
            self._log(item.get("account_id"), phone, "outbound", "sms_reply", f"{sid} {body[:200]}")
        else:
            self._log(item.get("account_id"), phone, "outbound", "sms_failed", f"{error}; body: {body[:200]}")
            logger.error("SMS to %s not delivered after the outbox retries: %s", phone, error)

    def _outbox_may_send(self, item: dict[str, Any]) -> bool:
        """Whether a retried reply may still go out: not once the number opted out of SMS."""
        if item.get("opt_out_exempt") or not self._opted_out(item["to"]):
            return True
        self._log(
            item.get("account_id"), item["to"], "outbound", "sms_suppressed", f"opted out; body: {item['body'][:200]}"
        )
        return False

    def _record_keyword(self, phone: str, keyword: str) -> None:
        account_id, _ = self._account(sender_phone(phone))
        address = sender_phone(phone) or phone
        with db.session_scope() as session:
            if keyword == "stop":
                record_opt_out(
                    session,
                    address=address,
                    channel="sms",
                    account_id=account_id,
                    actor="sms",
                    conversation_id=phone,
                    wording="STOP",
                )
            else:
                record_opt_in(
                    session, address=address, channel="sms", account_id=account_id, actor="sms", conversation_id=phone
                )

    def _opted_out(self, phone: str) -> bool:
        with db.session_scope() as session:
            return (
                session.query(db.OptOut).filter_by(address=sender_phone(phone) or phone, channel="sms").first()
                is not None
            )

    async def _process(
        self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage, phone: str
    ) -> None:
        await handle_guarded(app, on_new_message, message)
        texts = [m.get("text", "") for m in getattr(message.output_channel, "messages", []) if m.get("text")]
        if texts:
            # a typed opt-out ("please stop texting me") gets its one confirmation; any other turn
            # that ends with the number opted out (a STOP that arrived meanwhile) sends nothing
            exempt = self._opted_out(phone) and await self._turn_opted_out(app, phone)
            await self.send(phone, texts, opt_out_exempt=exempt)

    @staticmethod
    async def _turn_opted_out(app: Any, phone: str) -> bool:
        """Whether the conversation's latest turn ran the typed opt-out (``action_opt_out``)."""
        agent = getattr(app.ctx, "agent", None)
        tracker = await agent.tracker_store.retrieve(phone) if agent else None
        if tracker is None:
            return False
        for event in reversed(tracker.events):
            if isinstance(event, UserUttered):
                return False
            if isinstance(event, ActionExecuted) and event.action_name == OPT_OUT_ACTION:
                return True
        return False

    async def _keyword_to_tracker(
        self, app: Any, phone: str, keyword: str, text: str, metadata: dict[str, Any]
    ) -> None:
        """Record a STOP or START keyword in the conversation's tracker with the events of the
        typed opt-out (``action_opt_out``, slot ``opted_out``) or opt-in, so SafetyPolicy's
        opted-out state applies on every channel and the KPIs count it. The ledger entry is made
        by the webhook before this; nothing the bot would say here is sent."""
        agent = getattr(app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            logger.error("%s from %s not recorded in the tracker: no model loaded", keyword, phone)
            return
        stop = keyword == "stop"
        intent = {"name": "opt_out" if stop else "opt_in", "confidence": 1.0}
        parse = {"text": text, "intent": intent, "intent_ranking": [intent], "entities": []}
        try:
            async with agent.lock_store.lock(phone):
                # a new conversation starts as any other would (its session-start output is dropped)
                tracker = await agent.processor.fetch_tracker_and_update_session(
                    phone, CollectingOutputChannel(), metadata
                )
                events: list[Event] = [
                    UserUttered(text, intent, [], parse, input_channel=self.name(), metadata=metadata),
                    ActionExecuted(OPT_OUT_ACTION if stop else OPT_IN_ACTION),
                ]
                if stop and tracker.active_loop_name:
                    events += [ActiveLoop(None), SlotSet("requested_slot", None)]
                events += [SlotSet("opted_out", stop), ActionExecuted("action_listen")]
                for event in events:
                    tracker.update(event)
                await agent.tracker_store.save(tracker)
        except Exception:
            # the opt-out ledger already holds it, which is what suppresses contact
            logger.exception("%s from %s not recorded in the tracker", keyword, phone)

    async def _log_silently(self, app: Any, message: UserMessage) -> None:
        """Keep a message from an opted-out number in its tracker without predicting a reply.
        Crisis language still reaches a person: it opens a top-priority crisis ticket (no SMS is
        sent; the collector decides how to reach the debtor)."""
        agent = getattr(app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            return
        try:
            async with agent.lock_store.lock(message.sender_id):
                tracker = await agent.processor.log_message(message, should_save_tracker=True)
        except Exception:
            logger.exception("message from opted-out %s not stored in the tracker", message.sender_id)
            return
        parse = tracker.latest_message.parse_data if tracker.latest_message else {}
        red = redis_client(agent.tracker_store)
        if red is None:
            return
        queue = HandoffQueue(red)
        if crisis_rule().matches(parse):
            slots = tracker.current_slot_values()
            account_id = slots.get("account_id") or self._account(sender_phone(message.sender_id))[0]
            ticket, _ = queue.open(
                conversation_id=message.sender_id,
                channel="sms",
                reason="crisis",
                account_id=account_id,
                summary=build_summary([e.as_dict() for e in tracker.events], slots, []),
            )
            self._log(
                account_id, message.sender_id, "inbound", "handoff_crisis", f"ticket {ticket.id}; opted out of SMS"
            )
            logger.warning("crisis language from opted-out %s: ticket %s opened", message.sender_id, ticket.id)
        if queue.open_ticket_id(message.sender_id) is not None:
            queue.add_message(message.sender_id, "debtor", message.text or "")  # the collector sees it

    async def _keyword_turn(
        self, app: Any, phone: str, kind: str, text: str, metadata: dict[str, Any], reply: str | None
    ) -> None:
        """STOP/START: into the tracker, then the channel's own confirmation when Twilio does not send it."""
        await self._keyword_to_tracker(app, phone, kind, text, metadata)
        if reply:
            await self.send(phone, [reply], opt_out_exempt=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def handle_message(
        self,
        app: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        red: redis.Redis | None,
        form: dict[str, str],
    ) -> HTTPResponse:
        """Handle one signed inbound SMS (Twilio's form fields ``From``, ``MessageSid``, ``Body``,
        ``NumMedia``): de-duplicate by ``MessageSid`` in ``red``, log it, handle STOP/START/HELP,
        and pass the text to the bot in the background. Answers empty TwiML at once.

        A redelivered ``MessageSid`` is answered without processing. When handling fails (e.g. the
        database refuses the contact-log row), the ``MessageSid`` is forgotten again and the error
        propagates (a 500), so Twilio's redelivery is processed rather than dropped as a duplicate."""
        phone, sid = form["From"], form["MessageSid"]
        try:
            if not first_delivery(red, f"sms:{sid}"):
                return _twiml()  # a redelivery: already handled
        except redis.exceptions.RedisError:
            self._spawn(self.send(phone, [TRY_AGAIN]))
            return _twiml()
        try:
            return self._handle_first_delivery(app, on_new_message, form)
        except Exception:
            forget_delivery(red, f"sms:{sid}")
            raise

    def _handle_first_delivery(
        self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], form: dict[str, str]
    ) -> HTTPResponse:
        phone, sid = form["From"], form["MessageSid"]
        account_id, _ = self._account(sender_phone(phone))
        text, notes = clean_text(form.get("Body", ""))
        # the contact log keeps what was said, not a date of birth or another person's number
        self._log(account_id, phone, "inbound", "sms_received", f"{sid} {logmask.mask(text[:200])}")
        keyword = text.upper().strip(" .!")
        metadata = {"channel": "sms", "message_sid": sid, "num_media": form.get("NumMedia", "0"), **notes}
        opted_out = self._opted_out(phone)
        if keyword in STOP_WORDS or keyword in START_WORDS or (keyword == "YES" and opted_out):
            kind = "stop" if keyword in STOP_WORDS else "start"
            self._record_keyword(phone, kind)
            reply = None
            if not self.settings.twilio_handles_keywords:
                reply = (
                    "You won't get more texts from us. Reply START to opt back in."
                    if kind == "stop"
                    else "You'll get texts from us again. Reply STOP to opt out."
                )
            self._spawn(self._keyword_turn(app, phone, kind, text, metadata, reply))
            return _twiml()  # Twilio's opt-out handling sends the one confirmation
        if keyword in HELP_WORDS:
            if not self.settings.twilio_handles_keywords:
                jurisdiction = self._account(sender_phone(phone))[1]
                help_text = f"Collections help: call {contact_for(jurisdiction)['phone']}."
                self._spawn(self.send(phone, [help_text], opt_out_exempt=True))
            return _twiml()
        if opted_out:
            # after STOP only START (and HELP) gets an answer; the message is kept, unanswered
            self._log(account_id, phone, "inbound", "sms_ignored_opted_out", f"{sid}")
            message = UserMessage(text, CollectingOutputChannel(), phone, input_channel=self.name(), metadata=metadata)
            self._spawn(self._log_silently(app, message))
            return _twiml()
        if not text:
            media = form.get("NumMedia", "0").strip() not in ("", "0")
            self._spawn(self.send(phone, [MEDIA_ONLY_REPLY if media else EMPTY_REPLY]))
            return _twiml()
        message = UserMessage(text, CollectingOutputChannel(), phone, input_channel=self.name(), metadata=metadata)
        self._spawn(self._process(app, on_new_message, message, phone))
        return _twiml()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint("collections_twilio_sms", module.__name__ if module else None)

        @bp.listener("after_server_start")
        async def _start_outbox(app: Any, _loop: Any) -> None:
            def current_redis() -> redis.Redis | None:
                agent = getattr(app.ctx, "agent", None)
                self.red = redis_client(agent.tracker_store) if agent and agent.tracker_store else None
                return self.red

            self._spawn(self.outbox.drain_forever(current_redis))

        @bp.route("/", methods=["GET"])
        async def index(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not signature_ok(self.settings, request):
                return response.text("invalid or missing X-Twilio-Signature", status=403)
            form = {k: v[0] for k, v in (request.form or {}).items() if v}
            phone, sid = form.get("From", ""), form.get("MessageSid", "")
            if not phone or not sid:
                return response.text("From and MessageSid are required", status=400)
            if sender_phone(phone) is None:
                # a short code or alphanumeric sender cannot be a debtor, nor receive a reply
                return response.text("From must be a phone number in E.164 form", status=400)
            agent = getattr(request.app.ctx, "agent", None)
            red = redis_client(agent.tracker_store) if agent else None
            return await self.handle_message(request.app, on_new_message, red, form)

        @bp.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            if not signature_ok(self.settings, request):
                return response.text("invalid or missing X-Twilio-Signature", status=403)
            form = {k: v[0] for k, v in (request.form or {}).items() if v}
            phone = form.get("To", "")
            account_id, _ = self._account(sender_phone(phone))
            detail = f"{form.get('MessageSid', '')} {form.get('MessageStatus', '')} {form.get('ErrorCode', '')}".strip()
            self._log(account_id, phone, "outbound", "sms_status", detail)
            return response.text("", status=204)

        return bp
