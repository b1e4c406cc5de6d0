"""What the Twilio SMS and voice channels share: settings from the environment, request
signature checks, redelivery de-duplication in Redis, and the asynchronous REST client."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from sanic.request import Request
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

logger = logging.getLogger(__name__)
DEDUPE_SECONDS = 24 * 3600
RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds between send attempts after a 5xx or network error
OUTBOX_KEY = "collections:twilio:outbox"
# seconds before each outbox attempt once the quick retries failed (about 35 minutes in all)
OUTBOX_DELAYS = (5, 15, 30, 60, 120, 300, 600, 900)


@dataclass(frozen=True)
class TwilioSettings:
    """From the environment: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_NUMBER (E.164),
    PUBLIC_URL (the base URL Twilio calls, as seen from outside a reverse proxy) and
    TWILIO_API_BASE_URL (https://api.twilio.com in production)."""

    account_sid: str
    auth_token: str
    number: str
    public_url: str
    api_base_url: str
    twilio_handles_keywords: bool

    @classmethod
    def from_env(cls) -> TwilioSettings:
        return cls(
            account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
            number=os.environ.get("TWILIO_NUMBER", ""),
            public_url=os.environ.get("PUBLIC_URL", "").rstrip("/"),
            api_base_url=os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/"),
            twilio_handles_keywords=os.environ.get("TWILIO_HANDLES_KEYWORDS", "true").lower() != "false",
        )


def signature_ok(settings: TwilioSettings, request: Request) -> bool:
    """Check ``X-Twilio-Signature`` against PUBLIC_URL + path (+ query) and the form parameters.
    A request without a signature, or with a wrong one, is refused (no token configured: refused)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.auth_token:
        return False
    url = settings.public_url + request.path + (f"?{request.query_string}" if request.query_string else "")
    # parse the raw body: Sanic's form drops blank values (an MMS has Body=""), which Twilio signs
    try:
        pairs = urllib.parse.parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except (AttributeError, UnicodeDecodeError):
        pairs = [(key, values[0] if values else "") for key, values in (request.form or {}).items()]
    params = dict(pairs)
    return bool(RequestValidator(settings.auth_token).validate(url, params, signature))


def first_delivery(red: redis.Redis | None, key: str) -> bool:
    """True the first time ``key`` (e.g. a MessageSid) is seen within a day; redeliveries are False.
    Raises redis errors so the caller can answer "try again" rather than process twice."""
    if red is None:
        return True
    return bool(red.set(f"collections:twilio:{key}", 1, nx=True, ex=DEDUPE_SECONDS))


def forget_delivery(red: redis.Redis | None, key: str) -> None:
    """Undo :func:`first_delivery` for ``key`` when handling the request failed, so Twilio's
    redelivery (it retries a request answered 5xx) is processed instead of dropped as a duplicate.
    A Redis error is logged, not raised: the caller is already failing with the original error."""
    if red is None:
        return
    try:
        red.delete(f"collections:twilio:{key}")
    except redis.exceptions.RedisError as exc:
        logger.error("could not forget Twilio delivery %s; its redelivery will be dropped: %s", key, exc)


class TwilioSender:
    """Sends SMS through Twilio's REST API without blocking the event loop, retrying 5xx and
    network errors with backoff; 4xx errors (unsubscribed 21610, bad number 21211) are final."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    def _get_client(self) -> Client:
        if self._client is None:  # created inside the running loop (aiohttp session)
            self._client = Client(
                self.settings.account_sid, self.settings.auth_token, http_client=AsyncTwilioHttpClient()
            )
            self._client.api.base_url = self.settings.api_base_url
        return self._client

    async def send_sms(self, to: str, body: str, status_callback: str | None) -> tuple[str | None, str | None, bool]:
        """Send one SMS. Returns (message SID, None, False), or (None, error text, retryable) after
        the last attempt, where retryable means a 5xx or network error (worth trying later)."""
        error = None
        retryable = True
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            try:
                kwargs: dict[str, Any] = {"to": to, "from_": self.settings.number, "body": body}
                if status_callback:
                    kwargs["status_callback"] = status_callback
                message = await self._get_client().messages.create_async(**kwargs)
                return str(message.sid), None, False
            except TwilioRestException as exc:
                error = f"twilio {exc.status} code {exc.code}: {exc.msg}"
                if exc.status < 500:
                    retryable = False
                    break
            except Exception as exc:  # network errors from aiohttp and the like
                error = f"{type(exc).__name__}: {exc}"
            logger.warning("SMS to %s failed (attempt %d): %s", to, attempt + 1, error)
        return None, error, retryable


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
