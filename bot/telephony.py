"""The one Twilio REST sender of the project: SMS and calls through the real ``twilio`` client,
used by the SMS channel (asynchronously, with retries), outreach and the collector console
(synchronously). ``TWILIO_API_BASE_URL`` points it at Twilio or at the local fake of its API."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)
# The twilio client logs each request's URL and headers at INFO, a dozen lines per message; its
# warnings and errors still show. Every process that sends through Twilio imports this module.
logging.getLogger("twilio").setLevel(logging.WARNING)
RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds between send attempts after a 5xx or network error


class SendError(RuntimeError):
    """Twilio refused or could not be reached; the message says which (status and code)."""


@dataclass(frozen=True)
class TwilioSettings:
    """From the environment: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_NUMBER (E.164),
    PUBLIC_URL (the base URL Twilio calls, as seen from outside a reverse proxy),
    TWILIO_API_BASE_URL (https://api.twilio.com in production) and TWILIO_HANDLES_KEYWORDS
    (Twilio's Advanced Opt-Out answers STOP/START/HELP; default true)."""

    account_sid: str
    auth_token: str
    number: str
    public_url: str
    api_base_url: str
    twilio_handles_keywords: bool

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TwilioSettings:
        """Settings from ``env`` (default ``os.environ``)."""
        env = dict(os.environ) if env is None else env
        return cls(
            account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            number=env.get("TWILIO_NUMBER", ""),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            api_base_url=env.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/"),
            twilio_handles_keywords=env.get("TWILIO_HANDLES_KEYWORDS", "true").lower() != "false",
        )

    @property
    def sms_status_url(self) -> str:
        """Where Twilio posts SMS delivery statuses (the SMS channel's status webhook)."""
        return f"{self.public_url}/webhooks/twilio_sms/status"

    @property
    def voice_url(self) -> str:
        """Where Twilio asks what to say on a call the bot places (the voice channel's webhook)."""
        return f"{self.public_url}/webhooks/twilio_voice/webhook"


class TwilioSender:
    """Sends SMS and places calls through Twilio's REST API.

    ``send_sms`` is for the event loop: it does not block it, and retries 5xx and network errors
    with backoff; 4xx errors (unsubscribed 21610, bad number 21211) are final. ``sms`` and
    ``call`` are for scripts and the console: one attempt, :class:`SendError` on failure."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self._async_client: Client | None = None
        self._client: Client | None = None

    def _client_for(self, http_client: Any = None) -> Client:
        client = Client(self.settings.account_sid, self.settings.auth_token, http_client=http_client)
        client.api.base_url = self.settings.api_base_url
        return client

    async def send_sms(self, to: str, body: str, status_callback: str | None) -> tuple[str | None, str | None, bool]:
        """Send one SMS. Returns (message SID, None, False), or (None, error text, retryable) after
        the last attempt, where retryable means a 5xx or network error (worth trying later)."""
        if self._async_client is None:  # created inside the running loop (aiohttp session)
            self._async_client = self._client_for(AsyncTwilioHttpClient())
        error = None
        retryable = True
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            try:
                kwargs: dict[str, Any] = {"to": to, "from_": self.settings.number, "body": body}
                if status_callback:
                    kwargs["status_callback"] = status_callback
                message = await self._async_client.messages.create_async(**kwargs)
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

    def _sync(self) -> Client:
        if self._client is None:
            self._client = self._client_for()
        return self._client

    def sms(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Send one SMS now, with delivery statuses to ``status_callback``, else to the SMS
        channel when PUBLIC_URL is set; returns its SID. Raises :class:`SendError`."""
        kwargs: dict[str, Any] = {"to": to, "from_": self.settings.number, "body": body}
        callback = status_callback or (self.settings.sms_status_url if self.settings.public_url else None)
        if callback:
            kwargs["status_callback"] = callback
        try:
            message = self._sync().messages.create(**kwargs)
        except TwilioRestException as exc:
            raise SendError(f"SMS to {to} refused: twilio {exc.status} code {exc.code}") from exc
        except (TwilioException, OSError) as exc:
            raise SendError(f"SMS to {to} failed: {exc}") from exc
        return str(message.sid)

    def call(self, to: str, twiml: str | None = None) -> str:
        """Place a call now: answered by the voice channel's webhook, or saying ``twiml`` when
        given; returns its SID. A call to the webhook asks for answering-machine detection that
        waits for the end of the greeting (``MachineDetection=DetectMessageEnd``), so a machine
        gets only the limited-content message after the beep (12 CFR 1006.2(j)). Raises
        :class:`SendError`."""
        target: dict[str, str] = (
            {"twiml": twiml} if twiml else {"url": self.settings.voice_url, "machine_detection": "DetectMessageEnd"}
        )
        try:
            call = self._sync().calls.create(to=to, from_=self.settings.number, **target)
        except TwilioRestException as exc:
            raise SendError(f"call to {to} refused: twilio {exc.status} code {exc.code}") from exc
        except (TwilioException, OSError) as exc:
            raise SendError(f"call to {to} failed: {exc}") from exc
        return str(call.sid)
