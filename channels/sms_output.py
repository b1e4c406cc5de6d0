"""SMS output: a bot turn's texts as SMS, through the project's one Twilio sender.

Each reply carries the jurisdiction's opt-out footer (12 CFR 1006.6(e)), once per reply or on
every message as the profile says, is worded in GSM-7 where its language allows, and is split on
sentence boundaries within the profile's segment budget; nothing is sent to a number that opted out of SMS
except the one confirmation of that opt-out (12 CFR 1006.6(e); 47 CFR 64.1200; CTIA keyword
rules); replies Twilio refuses for now (5xx, network) wait in a Redis outbox (:class:`SmsOutbox`)
and are sent again by whichever replica is up; every send, failure, suppression and delivery
status is a contact-log row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from rasa.core.channels.channel import OutputChannel

from bot import db
from bot.compliance.profiles import profile_for
from bot.context import SenderContext, resolve_now
from bot.sms import split_for_sms
from bot.telephony import TwilioSender, TwilioSettings
from bot.verification import sender_phone

logger = logging.getLogger(__name__)
OUTBOX_KEY = "collections:twilio:outbox"
# seconds before each outbox attempt once the quick retries failed (about 35 minutes in all)
OUTBOX_DELAYS = (5, 15, 30, 60, 120, 300, 600, 900)
STOPPED_KEY = "collections:sms:stopped:"  # + phone: a STOP keyword received, until START


class SmsOutbox:
    """SMS that still failed after the quick retries with a 5xx or network error, kept in Redis
    (sorted set :data:`OUTBOX_KEY`, score = next attempt in epoch seconds) and sent again after
    :data:`OUTBOX_DELAYS`; it survives a restart and any replica may drain it (``ZREM`` claims an
    item, so each is sent by one process). ``on_done(item, sid, error)`` records the outcome:
    a SID once sent, or the error once the last attempt failed. ``may_send(item)``, when given,
    is asked before each attempt; False drops the item (e.g. the number opted out meanwhile), and
    recording that is the callback's job."""

    def __init__(
        self,
        sender: TwilioSender,
        on_done: Callable[[dict[str, Any], str | None, str | None], None],
        may_send: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.sender = sender
        self.on_done = on_done
        self.may_send = may_send

    @staticmethod
    def put(red: redis.Redis, item: dict[str, Any], attempt: int = 0, order: int = 0) -> None:
        """Queue ``item`` ({"to", "body", "status_callback", ...}) for outbox attempt ``attempt``;
        ``order`` keeps the parts of one reply in sequence (they are due 1 ms apart)."""
        item = {**item, "id": item.get("id") or uuid.uuid4().hex, "attempt": attempt}
        due = time.time() + OUTBOX_DELAYS[attempt] + order / 1000
        red.zadd(OUTBOX_KEY, {json.dumps(item, sort_keys=True): due})

    async def drain_once(self, red: redis.Redis) -> int:
        """Send every item that is due; returns how many were claimed."""
        due = red.zrangebyscore(OUTBOX_KEY, "-inf", time.time(), start=0, num=20)
        claimed = 0
        blocked: dict[str, int] = {}  # recipient → parts put back this pass: later parts wait behind
        for raw in due:
            if not red.zrem(OUTBOX_KEY, raw):
                continue  # another replica took it
            claimed += 1
            item = json.loads(raw)
            if self.may_send is not None and not self.may_send(item):
                continue
            if item["to"] in blocked:
                sid, error, retryable = None, "queued behind an earlier part", True
            else:
                sid, error, retryable = await self.sender.send_sms(
                    item["to"], item["body"], item.get("status_callback")
                )
            if sid is None and retryable and item["attempt"] + 1 < len(OUTBOX_DELAYS):
                logger.warning("SMS to %s still failing (%s); next try later", item["to"], error)
                blocked[item["to"]] = blocked.get(item["to"], -1) + 1
                self.put(red, item, item["attempt"] + 1, order=blocked[item["to"]])
            else:
                self.on_done(item, sid, error)
        return claimed

    async def drain_forever(self, get_red: Callable[[], redis.Redis | None], poll_s: float = 1.0) -> None:
        """Drain the outbox every ``poll_s`` seconds until cancelled; Redis outages are waited out."""
        while True:
            red = get_red()
            try:
                if red is not None:
                    await self.drain_once(red)
            except redis.exceptions.RedisError as exc:
                logger.warning("SMS outbox unavailable: %s", exc)
            except Exception:
                logger.exception("SMS outbox error")
            await asyncio.sleep(poll_s)


def mark_stopped(red: redis.Redis | None, phone: str, stopped: bool) -> None:
    """Note in Redis that ``phone`` sent STOP (or START): a turn that was already under way when
    the STOP arrived sends nothing, whichever replica handled it. The ledger stays the record."""
    if red is None:
        return
    try:
        if stopped:
            red.set(STOPPED_KEY + phone, 1)
        else:
            red.delete(STOPPED_KEY + phone)
    except redis.exceptions.RedisError as exc:
        logger.error("STOP/START of %s not noted in Redis (the ledger has it): %s", phone, exc)


class SmsOutput(OutputChannel):
    """Sends bot turns to a phone as SMS (``send_turn``); as a Rasa output channel, each message
    is a turn of its own. ``red()`` gives the Redis of the outbox and the STOP marks, once the
    server runs."""

    def __init__(self, settings: TwilioSettings, red: Callable[[], redis.Redis | None] = lambda: None) -> None:
        self.settings = settings
        self.sender = TwilioSender(settings)
        self.red = red
        self.outbox = SmsOutbox(self.sender, self._outbox_done, self._outbox_may_send)

    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_turn(recipient_id, [text])

    def log(self, account_id: str | None, phone: str, direction: str, event: str, detail: str | None = None) -> None:
        """One SMS contact-log row for ``phone``."""
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

    def _stopped_since(self, phone: str) -> bool:
        red = self.red()
        try:
            return red is not None and bool(red.exists(STOPPED_KEY + phone))
        except redis.exceptions.RedisError:
            return False  # the ledger was read when the message came in; Twilio refuses after STOP

    async def send_turn(
        self,
        phone: str,
        texts: list[str],
        context: SenderContext | None = None,
        opt_out_exempt: bool = False,
    ) -> None:
        """Send the texts of one bot turn to ``phone`` as SMS, each with the footer of the
        sender's jurisdiction (``context``, resolved now when not given); none to a number already
        opted out ("Reply STOP to opt out" would end its confirmation).

        The last line of the opt-out rule: while the number has opted out of SMS (the context's
        ledger reading, or a STOP received since) nothing is sent, the texts are logged as
        ``sms_suppressed``, unless ``opt_out_exempt``, which only the one opt-out confirmation and
        a HELP answer may claim (12 CFR 1006.6(e); 47 CFR 64.1200)."""
        context = context or resolve_now(phone, "sms")
        opted_out = context.opted_out_of("sms") or self._stopped_since(phone)
        if not opt_out_exempt and opted_out:
            self.log(
                context.account_id, phone, "outbound", "sms_suppressed", f"opted out; body: {' '.join(texts)[:200]}"
            )
            logger.warning("SMS to %s not sent: the number opted out of SMS", phone)
            return
        profile = profile_for(context.jurisdiction)
        footer = "" if opted_out else profile.sms_footer(context.language)
        queued = 0  # once one part waits in the outbox, the later parts wait behind it (order kept)
        for body in split_for_sms(texts, footer, profile.sms_max_segments, profile.sms_footer_per_reply):
            if queued:
                sid, error, retryable = None, "queued behind an earlier part", True
            else:
                sid, error, retryable = await self.sender.send_sms(phone, body, self.settings.sms_status_url)
            if sid:
                self.log(context.account_id, phone, "outbound", "sms_reply", f"{sid} {body[:200]}")
            elif retryable and self._queue(context.account_id, phone, body, queued, opt_out_exempt):
                queued += 1
                self.log(context.account_id, phone, "outbound", "sms_retry_queued", f"{error}; body: {body[:200]}")
            else:
                # the debtor's turn is already saved; the failure is visible for a person to follow up
                self.log(context.account_id, phone, "outbound", "sms_failed", f"{error}; body: {body[:200]}")
                logger.error("SMS to %s not delivered: %s", phone, error)

    def _queue(self, account_id: str | None, phone: str, body: str, position: int, opt_out_exempt: bool) -> bool:
        """Put a reply Twilio refused for now (5xx, network) in the outbox; False when Redis is down too."""
        red = self.red()
        if red is None:
            return False
        item = {"to": phone, "body": body, "status_callback": self.settings.sms_status_url, "account_id": account_id}
        if opt_out_exempt:
            item["opt_out_exempt"] = True
        try:
            SmsOutbox.put(red, item, order=position)
            return True
        except redis.exceptions.RedisError as exc:
            logger.error("SMS outbox unavailable: %s", exc)
            return False

    def _outbox_done(self, item: dict[str, Any], sid: str | None, error: str | None) -> None:
        phone, body = item["to"], item["body"]
        if sid:
            self.log(item.get("account_id"), phone, "outbound", "sms_reply", f"{sid} {body[:200]}")
        else:
            self.log(item.get("account_id"), phone, "outbound", "sms_failed", f"{error}; body: {body[:200]}")
            logger.error("SMS to %s not delivered after the outbox retries: %s", phone, error)

    def _outbox_may_send(self, item: dict[str, Any]) -> bool:
        """Whether a retried reply may still go out: not once the number opted out of SMS (the
        ledger, read again: minutes may have passed)."""
        if item.get("opt_out_exempt") or not resolve_now(item["to"], "sms").opted_out_of("sms"):
            return True
        self.log(
            item.get("account_id"), item["to"], "outbound", "sms_suppressed", f"opted out; body: {item['body'][:200]}"
        )
        return False

    def log_status(self, form: dict[str, str]) -> None:
        """A delivery-status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``, ``To``) as
        an ``sms_status`` row, under the account of the number it was sent to."""
        phone = form.get("To", "")
        number = sender_phone(phone)
        with db.session_scope() as session:
            account = db.find_account(session, phone_e164=number) if number else None
            account_id = str(account.id) if account is not None else None
        detail = f"{form.get('MessageSid', '')} {form.get('MessageStatus', '')} {form.get('ErrorCode', '')}".strip()
        self.log(account_id, phone, "outbound", "sms_status", detail)
