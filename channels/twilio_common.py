"""What the Twilio SMS and voice channels share: settings from the environment, request
signature checks, redelivery de-duplication in Redis, and the asynchronous REST client."""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.parse
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

    async def send_sms(self, to: str, body: str, status_callback: str | None) -> tuple[str | None, str | None]:
        """Send one SMS. Returns (message SID, None) or (None, error text) after the last attempt."""
        error = None
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            try:
                kwargs: dict[str, Any] = {"to": to, "from_": self.settings.number, "body": body}
                if status_callback:
                    kwargs["status_callback"] = status_callback
                message = await self._get_client().messages.create_async(**kwargs)
                return str(message.sid), None
            except TwilioRestException as exc:
                error = f"twilio {exc.status} code {exc.code}: {exc.msg}"
                if exc.status < 500:
                    break
            except Exception as exc:  # network errors from aiohttp and the like
                error = f"{type(exc).__name__}: {exc}"
            logger.warning("SMS to %s failed (attempt %d): %s", to, attempt + 1, error)
        return None, error
