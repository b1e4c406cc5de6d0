"""Twilio SMS input at ``/webhooks/twilio_sms/webhook`` (status callbacks at ``.../status``).

What Rasa's stock Twilio channel does not: every request's ``X-Twilio-Signature`` is checked
against PUBLIC_URL (unsigned or forged → 403); a redelivered ``MessageSid`` is processed once;
an MMS with no text is answered; STOP/START/HELP are handled as carriers expect, recorded in
the opt-out ledger and in the conversation's tracker (as ``action_opt_out``/``action_opt_in``,
like a typed opt-out); after an opt-out the bot stays silent on SMS until START (only HELP is
answered) (12 CFR 1006.6(e); 47 CFR 64.1200; CTIA keyword rules). The sender context (account
and opt-out ledger) is resolved once per inbound message. The webhook answers at once; the reply
goes out through :class:`channels.sms_output.SmsOutput` without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import redis
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db, logmask
from bot.compliance.optout import record_opt_in, record_opt_out
from bot.context import SENDER_KEY, SenderContext, from_metadata, resolve_now
from bot.handoff import HandoffQueue, build_summary
from bot.language import detect
from bot.safety import crisis_rule, record_crisis
from bot.telephony import TwilioSettings
from bot.texts import texts_for
from bot.verification import sender_phone
from channels.guard import clean_text, handle_guarded
from channels.sms_output import SmsOutput, mark_stopped
from channels.twilio_common import first_delivery, forget_delivery, signature_ok
from stores.redis_store import redis_client

logger = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# carrier keywords (CTIA), and the Chinese SMS practice the Chinese footer names (回复TD退订)
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "TD", "退订", "取消订阅"}
START_WORDS = {"START", "UNSTOP", "开启", "恢复"}
HELP_WORDS = {"HELP", "INFO", "帮助"}
OPT_OUT_ACTION = "action_opt_out"  # the typed opt-out's action (actions/account_events.py); KPIs count it
OPT_IN_ACTION = "action_opt_in"


def _twiml() -> HTTPResponse:
    return response.text(EMPTY_TWIML, content_type="text/xml")


def _ran_opt_out(saved: dict[str, Any], phone: str) -> bool:
    """Whether the turn just saved for ``phone`` ran the typed opt-out (``action_opt_out``) and
    it stopped this channel (slot ``opted_out``; "stop calling me" by text stops calls only)."""
    tracker = saved.get(phone)
    if tracker is None or not tracker.get_slot("opted_out"):
        return False
    for event in reversed(list(tracker.events)):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, ActionExecuted) and event.action_name == OPT_OUT_ACTION:
            return True
    return False


class TwilioSmsInput(InputChannel):
    """Settings come from the environment (:class:`bot.telephony.TwilioSettings`)."""

    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(TwilioSettings.from_env())

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self.red: redis.Redis | None = None  # the tracker store's Redis, once the server runs
        self.output = SmsOutput(settings, lambda: self.red)
        self.tasks: set[asyncio.Task[None]] = set()

    def get_output_channel(self) -> OutputChannel | None:
        return self.output

    async def send(
        self, phone: str, texts: list[str], opt_out_exempt: bool = False, context: SenderContext | None = None
    ) -> None:
        """Send a turn's texts to ``phone`` (see :meth:`SmsOutput.send_turn`)."""
        await self.output.send_turn(phone, texts, context, opt_out_exempt)

    def _record_keyword(self, context: SenderContext, keyword: str) -> None:
        address = context.phone or context.sender_id
        with db.session_scope() as session:
            if keyword == "stop":
                record_opt_out(
                    session,
                    address=address,
                    channel="sms",
                    account_id=context.account_id,
                    actor="sms",
                    conversation_id=context.sender_id,
                    wording="STOP",
                )
            else:
                record_opt_in(
                    session,
                    address=address,
                    channel="sms",
                    account_id=context.account_id,
                    actor="sms",
                    conversation_id=context.sender_id,
                )
        mark_stopped(self.red, context.sender_id, keyword == "stop")

    async def _process(
        self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage, phone: str
    ) -> None:
        """Hand the message to the bot (its sender context is in its metadata) and send the reply.
        A typed opt-out ("please stop texting me") gets its one confirmation; any other turn that
        ends with the number opted out (a STOP that arrived meanwhile) sends nothing."""
        saved: dict[str, Any] = {}
        await handle_guarded(app, on_new_message, message, saved=saved)
        texts = [m.get("text", "") for m in getattr(message.output_channel, "messages", []) if m.get("text")]
        if texts:
            context = from_metadata(message.metadata) or resolve_now(phone, "sms")
            if saved.get(phone) is not None:  # the turn may have switched the conversation's language
                context = context.speaking(saved[phone].get_slot("language"))
            exempt = _ran_opt_out(saved, phone)
            if exempt:  # the number is opted out now: its one confirmation carries no footer
                context = replace(context, opted_out=context.opted_out | {"sms"})
            await self.send(phone, texts, opt_out_exempt=exempt, context=context)

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

    async def _log_silently(self, app: Any, message: UserMessage, context: SenderContext) -> None:
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
            account_id = slots.get("account_id") or context.account_id
            ticket, _ = queue.open(
                conversation_id=message.sender_id,
                channel="sms",
                reason="crisis",
                account_id=account_id,
                summary=build_summary([e.as_dict() for e in tracker.events], slots, []),
            )
            with db.session_scope() as session:
                record_crisis(
                    session,
                    account_id=account_id,
                    channel="sms",
                    conversation_id=message.sender_id,
                    detail=f"ticket {ticket.id}; opted out of SMS",
                )
            logger.warning("crisis language from opted-out %s: ticket %s opened", message.sender_id, ticket.id)
        if queue.open_ticket_id(message.sender_id) is not None:
            queue.add_message(message.sender_id, "debtor", message.text or "")  # the collector sees it

    async def _keyword_turn(
        self,
        app: Any,
        context: SenderContext,
        kind: str,
        text: str,
        metadata: dict[str, Any],
        reply: str | None,
    ) -> None:
        """STOP/START: into the tracker, then the channel's own confirmation when Twilio does not send it."""
        await self._keyword_to_tracker(app, context.sender_id, kind, text, metadata)
        if reply:
            now = context.opted_out | {"sms"} if kind == "stop" else context.opted_out - {"sms"}
            await self.send(context.sender_id, [reply], opt_out_exempt=True, context=replace(context, opted_out=now))

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
            self._spawn(self.send(phone, [texts_for().get("channel.try_again")]))
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
        context = resolve_now(phone, "sms")  # the account and the opt-out ledger, read once
        text, notes = clean_text(form.get("Body", ""))
        context = context.speaking(detect(text))  # a debtor who writes Chinese is answered in Chinese
        texts = texts_for(context.language, context.jurisdiction)
        # the contact log keeps what was said, not a date of birth or another person's number
        self.output.log(context.account_id, phone, "inbound", "sms_received", f"{sid} {logmask.mask(text[:200])}")
        keyword = text.upper().strip(" .!。！")
        metadata = {
            "channel": "sms",
            "message_sid": sid,
            "num_media": form.get("NumMedia", "0"),
            **notes,
            SENDER_KEY: context.as_metadata(),
        }
        opted_out = context.opted_out_of("sms")
        if keyword in STOP_WORDS or keyword in START_WORDS or (keyword == "YES" and opted_out):
            kind = "stop" if keyword in STOP_WORDS else "start"
            self._record_keyword(context, kind)
            reply = None
            if not self.settings.twilio_handles_keywords:
                reply = texts.get("sms.stop_confirmed" if kind == "stop" else "sms.start_confirmed")
            self._spawn(self._keyword_turn(app, context, kind, text, metadata, reply))
            return _twiml()  # Twilio's opt-out handling sends the one confirmation
        if keyword in HELP_WORDS:
            if not self.settings.twilio_handles_keywords:
                help_text = texts.get("sms.help", company_phone=context.company_phone)
                self._spawn(self.send(phone, [help_text], opt_out_exempt=True, context=context))
            return _twiml()
        if opted_out:
            # after STOP only START (and HELP) gets an answer; the message is kept, unanswered
            self.output.log(context.account_id, phone, "inbound", "sms_ignored_opted_out", f"{sid}")
            message = UserMessage(text, CollectingOutputChannel(), phone, input_channel=self.name(), metadata=metadata)
            self._spawn(self._log_silently(app, message, context))
            return _twiml()
        if not text:
            media = form.get("NumMedia", "0").strip() not in ("", "0")
            reply = texts.get("sms.media_only" if media else "channel.empty")
            self._spawn(self.send(phone, [reply], context=context))
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

            self._spawn(self.output.outbox.drain_forever(current_redis))

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
            self.output.log_status({k: v[0] for k, v in (request.form or {}).items() if v})
            return response.text("", status=204)

        return bp
