"""Twilio Voice channel at ``/webhooks/twilio_voice/webhook``: speech ``<Gather>`` with DTMF
fallback, never an accidental hang-up.

Every answer is TwiML with a ``<Gather input="speech dtmf">`` (language and hints set), so a
silent bot turn or a paused conversation still keeps the line open. A low-confidence transcript
gets a reprompt instead of a guess; silence gets one reprompt, then a polite close. When the bot
hands off (a custom ``{"handoff": reason}`` message, or any open handoff ticket for the caller),
the call is transferred with ``<Dial>`` to COLLECTOR_PHONE. Outbound calls are keyed by the
debtor's number (``To``), inbound by ``From``.

Every call is a new communication: its first request starts a new conversation session, so the
call opens with the business name and the identity questions (the mini-Miranda once identity is
confirmed, 12 CFR 1006.18(e)) even when the same number has an SMS conversation going, and the
call's opening is never taken as the answer to an earlier question. A call the bot placed with
answering-machine detection that a machine answered (``AnsweredBy`` machine_* or fax) gets only
the Reg F limited-content message (12 CFR 1006.2(j)) and is hung up; a person hears the identity
questions. The contact log records which (``call_answered``, ``voicemail_limited_content``).
Keyed digits: 1, 2 and 3 are the menu, except as the answer to the CSAT question; longer input
answers the question being asked (eight digits for a date of birth become a date in the account's
own day/month order).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import redis
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db
from bot.context import SENDER_KEY, SenderContext, resolve_now
from bot.handoff import HandoffQueue
from bot.settings import contact_for
from bot.texts import DEFAULT_LANGUAGE, Texts, texts_for
from bot.verification import sender_phone
from channels.guard import clean_text, handle_guarded, start_new_session
from channels.twilio_common import TwilioSettings, first_delivery, signature_ok
from policies.csat_policy import CsatPolicy
from stores.redis_store import redis_client

logger = logging.getLogger(__name__)
MIN_CONFIDENCE = 0.45  # below this Twilio's transcript is more often wrong than right
MENU_KEYS = ("1", "2", "3")  # keypad menu; what each means to the NLU is voice.key_<n> in data/texts
CSAT = CsatPolicy.get_default_config()
RATING = str(CSAT["score_slot"])  # what keypad digits answer right after the CSAT question
CLARIFYING = "clarification"  # what keypad digits answer right after a numbered clarification question
CLARIFICATION_QUESTION = "action_ask_clarification"


def digits_as_answer(digits: str, requested_slot: str | None, texts: Texts | None = None) -> str:
    """The text a keypad entry stands for. ``#`` and ``*`` are dropped. A single 1, 2 or 3 is the
    menu (``voice.key_<n>`` in ``texts``, default the default language's), except right after the
    CSAT question (``requested_slot`` is :data:`RATING`), where every digit is a rating, and right
    after a clarification question (:data:`CLARIFYING`), where a digit picks a choice; other
    digits are the answer to the question being asked, and eight digits asked for a
    ``date_of_birth`` become ``AA/BB/CCCC`` (or ``CCCC/BB/AA`` when they start with a year), which
    the form reads in the account's date order (data/verification.yml)."""
    keyed = re.sub(r"\D", "", digits)
    if keyed in MENU_KEYS and requested_slot not in (RATING, CLARIFYING):
        return (texts or texts_for()).get(f"voice.key_{keyed}")
    if requested_slot == "date_of_birth" and len(keyed) == 8:
        if keyed[4:6] in ("19", "20") or keyed[:2] not in ("19", "20"):
            return f"{keyed[:2]}/{keyed[2:4]}/{keyed[4:]}"
        return f"{keyed[:4]}/{keyed[4:6]}/{keyed[6:]}"
    return keyed


def _number(value: str | None, kind: type[int] | type[float]) -> Any:
    """``value`` as ``kind``; 0 when missing or not a finite number (a malformed request is not a crash)."""
    try:
        number = kind(value or 0)
    except (TypeError, ValueError, OverflowError):
        return kind(0)
    return number if number == number and abs(number) != float("inf") else kind(0)


MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


def limited_content(texts: Texts, jurisdiction: str | None) -> str:
    """The Reg F limited-content message (12 CFR 1006.2(j)(1)): a business name that does not
    indicate debt collection, a request to reply, a person to ask for and a phone number
    (``voice.limited_content`` in data/texts, the names from data/company.yml); nothing else."""
    contact = contact_for(jurisdiction)
    return texts.get(
        "voice.limited_content",
        business_name=contact.business_name_in(texts.language),
        contact_name=contact.contact_name,
        phone=contact.phone,
    )


def _log_answer(context: SenderContext, call_sid: str, answered_by: str, event: str) -> None:
    with db.session_scope() as session:
        db.log_contact(
            session,
            account_id=context.account_id,
            channel="voice",
            direction="outbound",
            event=event,
            conversation_id=context.sender_id,
            detail=f"{call_sid} answered_by={answered_by}",
        )


def _twiml(*verbs: str) -> HTTPResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"
    return response.text(body, content_type="text/xml")


class TwilioVoiceInput(InputChannel):
    """Settings from the environment (:class:`bot.telephony.TwilioSettings`), plus VOICE_LANGUAGE (default
    en-US) and COLLECTOR_PHONE (where handoffs are dialled)."""

    @classmethod
    def name(cls) -> str:
        return "twilio_voice"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(TwilioSettings.from_env())

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self.language = os.environ.get("VOICE_LANGUAGE", "")  # overrides the default language's voice.language
        self.collector_phone = os.environ.get("COLLECTOR_PHONE", "")

    def _action(self, turn: int, silence: int = 0) -> str:
        """The webhook URL for the caller's next input: ``turn`` numbers the requests of a call
        that reach the bot, so a retried request (same URL) is told from the same words said
        again later; ``silence`` counts unanswered prompts."""
        query = urllib.parse.urlencode([(k, v) for k, v in (("turn", turn), ("silence", silence)) if v])
        return f"{self.settings.public_url}/webhooks/{self.name()}/webhook" + (f"?{query}" if query else "")

    def _say(self, texts: Texts, words: list[str]) -> str:
        """``<Say>`` verbs in the conversation's language and voice (``voice.language``,
        ``voice.voice`` in data/texts; VOICE_LANGUAGE overrides the default language's)."""
        language = (
            self.language if self.language and texts.language == DEFAULT_LANGUAGE else texts.get("voice.language")
        )
        voice = texts.get("voice.voice")
        attrs = f"language={quoteattr(language)}" + (f" voice={quoteattr(voice)}" if voice != "default" else "")
        return "".join(f"<Say {attrs}>{escape(s)}</Say>" for s in words if s)

    def _gather(self, say: list[str], turn: int, texts: Texts, silence: int = 0) -> str:
        spoken = self._say(texts, say)
        hints = texts.get("voice.hints")
        heard = (
            self.language
            if self.language and texts.language == DEFAULT_LANGUAGE
            else texts.get("voice.speech_language")
        )
        gather = (
            f'<Gather input="speech dtmf" language={quoteattr(heard)} hints={quoteattr(hints)} '
            f'speechTimeout="auto" timeout="6" finishOnKey="#" action={quoteattr(self._action(turn))} method="POST">'
            f"{spoken}</Gather>"
        )
        # no input: Twilio falls through to the redirect, which counts the silence
        return gather + f'<Redirect method="POST">{escape(self._action(turn, silence + 1))}</Redirect>'

    @staticmethod
    async def _answering(agent: Any, sender: str) -> str | None:
        """What keypad digits answer in ``sender``'s conversation: the slot the active form asks
        for, :data:`RATING` when the bot's last action asked the unanswered CSAT question,
        :data:`CLARIFYING` when it asked a clarification question, else None."""
        if agent is None or agent.tracker_store is None:
            return None
        try:
            tracker = await agent.tracker_store.retrieve(sender)
        except Exception:
            logger.exception("tracker of %s unreadable for keyed digits", sender)
            return None
        if tracker is None:
            return None
        if not tracker.active_loop_name:
            last = next(
                (
                    e.action_name
                    for e in reversed(tracker.events)
                    if isinstance(e, ActionExecuted) and e.action_name != ACTION_LISTEN_NAME
                ),
                None,
            )
            if last == CLARIFICATION_QUESTION:
                return CLARIFYING
            asked = last == CSAT["question_action"] and tracker.get_slot(CSAT["asked_slot"])
            return RATING if asked and tracker.get_slot(RATING) is None else None
        slot = tracker.get_slot("requested_slot")
        return str(slot) if slot else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint("collections_twilio_voice", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def index(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.monotonic()
            if not signature_ok(self.settings, request):
                return response.text("invalid or missing X-Twilio-Signature", status=403)
            form = {k: v[0] for k, v in (request.form or {}).items() if v}
            call_sid = form.get("CallSid", "")
            outbound = form.get("Direction", "").startswith("outbound")
            debtor = form.get("To" if outbound else "From", "")
            # a caller with no usable number ("anonymous") is one conversation per call, not one for all
            sender = sender_phone(debtor) or call_sid
            if not sender:  # Rasa would file it under its shared "default" conversation
                return response.text("From (or To for outbound calls) or CallSid is required", status=400)
            silence = _number(request.args.get("silence"), int)
            turn = max(0, _number(request.args.get("turn"), int))
            speech, digits = form.get("SpeechResult", ""), form.get("Digits", "")
            confidence = _number(form.get("Confidence"), float)
            try:
                context = resolve_now(sender, "voice")  # the caller's account and opt-outs, read once
            except Exception:
                logger.exception("voice request for %s: the caller could not be looked up", call_sid)
                context = None
            texts = texts_for(context.language, context.jurisdiction) if context else texts_for()
            if context is None:
                return _twiml(self._gather([texts.get("channel.try_again")], turn + 1, texts))
            answered_by = form.get("AnsweredBy", "")
            if outbound and answered_by and not turn and not silence:
                if answered_by in MACHINE:
                    # a machine: the limited-content message only, never the identity questions
                    _log_answer(context, call_sid, answered_by, "voicemail_limited_content")
                    message = limited_content(texts, context.jurisdiction)
                    return _twiml(f"<Say language={quoteattr(self.language)}>{escape(message)}</Say><Hangup/>")
                _log_answer(context, call_sid, answered_by, "call_answered")

            if silence:
                return (
                    _twiml(
                        f"<Say language={quoteattr(self.language)}>{escape(texts.get('voice.close'))}</Say><Hangup/>"
                    )
                    if silence >= 2
                    else _twiml(self._gather([texts.get("voice.still_there")], turn, texts, silence))
                )
            if speech and confidence < MIN_CONFIDENCE and not digits:
                return _twiml(self._gather([texts.get("voice.reprompt")], turn, texts))
            # whatever happens to this request, the caller's next input is the next turn: the same
            # words said again ("yes" to two questions) are new, only a retried request repeats
            following = turn + 1
            agent = getattr(request.app.ctx, "agent", None)
            try:
                if call_sid and not first_delivery(
                    redis_client(agent.tracker_store) if agent else None, f"voice:{call_sid}:turn:{turn}"
                ):
                    # a retried request: not twice
                    return _twiml(self._gather([texts.get("voice.still_there")], following, texts))
            except redis.exceptions.RedisError:
                pass  # handle_guarded answers "try again" for an outage
            metadata: dict[str, Any] = {"channel": "voice", "call_sid": call_sid, "speech_confidence": confidence}
            collector = CollectingOutputChannel()
            call_start = texts.get("voice.call_start")  # the text Rasa gets for a call that has just connected
            if digits:
                text = digits_as_answer(digits, await self._answering(agent, sender), texts)
            elif speech:
                text = speech
            else:
                # a new call is a new communication: a new session, mini-Miranda first
                if not await start_new_session(request.app, sender, collector, self.name(), metadata, context):
                    return _twiml(self._gather([texts.get("channel.try_again")], following, texts))
                text = call_start
            text, notes = clean_text(text)
            metadata = {**metadata, "dtmf": digits, **notes, SENDER_KEY: context.as_metadata()}
            message = UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
            saved: dict[str, Any] = {}
            await handle_guarded(request.app, on_new_message, message, context, saved=saved)
            if saved.get(sender) is not None:  # the turn may have switched the conversation's language
                texts = texts_for(saved[sender].get_slot("language") or context.language, context.jurisdiction)
            said = [m.get("text", "") for m in collector.messages if m.get("text")]
            handoff = any((m.get("custom") or {}).get("handoff") for m in collector.messages)
            try:
                # a conversation waiting for a person (any handoff reason) is transferred while live
                red = redis_client(agent.tracker_store) if agent else None
                handoff = handoff or (red is not None and HandoffQueue(red).is_paused(sender))
            except redis.exceptions.RedisError:
                pass
            logger.info("voice turn for %s answered in %.0f ms", call_sid, (time.monotonic() - started) * 1000)
            if handoff and self.collector_phone:
                spoken = self._say(texts, said)
                return _twiml(spoken + f"<Dial>{escape(self.collector_phone)}</Dial>")
            if not said:
                said = [texts.get("voice.still_there")]  # a silent bot turn must not end the call
            if text == call_start and not digits and not speech:
                said.append(texts.get("voice.menu"))
            return _twiml(self._gather(said, following, texts))

        return bp
