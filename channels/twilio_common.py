"""What the Twilio SMS and voice inputs share: request signature checks and redelivery
de-duplication in Redis. Settings and the REST sender are in :mod:`bot.telephony`."""

from __future__ import annotations

import logging
import urllib.parse

import redis
from sanic.request import Request
from twilio.request_validator import RequestValidator

from bot.telephony import TwilioSettings

logger = logging.getLogger(__name__)
DEDUPE_SECONDS = 24 * 3600

__all__ = ["TwilioSettings", "first_delivery", "forget_delivery", "signature_ok"]


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
