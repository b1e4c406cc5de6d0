"""REST channel at ``/webhooks/rest/webhook`` (same contract as Rasa's), hardened.

The sender id is chosen by the caller, so this channel is for trusted back ends: set
``REST_API_TOKEN`` and send ``Authorization: Bearer <token>`` wherever it is reachable by others
(debtors use the web chat, SMS or voice). Differences from Rasa's stock ``RestInput``: bad JSON or fields answer 400 with a reason instead
of 500; message metadata from the client is not trusted; slash commands are plain text; a store
outage answers an explicit "try again" instead of a reply without context; ``GET
/webhooks/rest/health`` fails (503) when Redis or the model is not there.

A REST client cannot be sent a message; it only hears back when it calls. So a collector's reply
from the console (``POST /webhooks/rest/collector_message``, bearer ``RASA_API_TOKEN``) is kept in
Redis for the conversation and handed over the next time the client calls: first in the answer
to its next message (each kept reply as ``{"recipient_id", "text", "from": "collector", "by"}``),
or from ``GET /webhooks/rest/messages?sender=…`` for a client that polls. Kept replies are handed
over once, and expire after :data:`PENDING_TTL`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.handoff import note_delivered_replies
from channels.guard import EMPTY_REPLY, bearer_ok, clean_text, handle_guarded, health, json_body
from stores.redis_store import redis_client

logger = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128
MAX_COLLECTOR_CHARS = 2000
PENDING_PREFIX = "collections:rest:pending:"  # collector replies the REST client has not fetched yet
PENDING_MAX = 50  # replies kept per conversation
PENDING_TTL = 30 * 24 * 3600  # seconds after the last one


def _redis(request: Request) -> redis.Redis | None:
    agent = getattr(request.app.ctx, "agent", None)
    return redis_client(agent.tracker_store) if agent is not None and agent.tracker_store is not None else None


def keep_reply(red: redis.Redis, sender: str, text: str, by: str | None) -> None:
    """Keep a collector's reply to the REST conversation ``sender`` until the client calls.
    Raises redis.RedisError when Redis does not take it."""
    entry = {"recipient_id": sender, "text": text, "from": "collector", "at": time.time(), **({"by": by} if by else {})}
    pipe = red.pipeline()
    pipe.rpush(PENDING_PREFIX + sender, json.dumps(entry))
    pipe.ltrim(PENDING_PREFIX + sender, -PENDING_MAX, -1)
    pipe.expire(PENDING_PREFIX + sender, PENDING_TTL)
    pipe.execute()


def take_replies(red: redis.Redis | None, sender: str) -> list[dict[str, Any]]:
    """The collector replies kept for ``sender``, oldest first, removed as they are handed over
    (atomically: two calls at once never both get one). Redis errors leave them for next time."""
    if red is None:
        return []
    try:
        pipe = red.pipeline(transaction=True)
        pipe.lrange(PENDING_PREFIX + sender, 0, -1)
        pipe.delete(PENDING_PREFIX + sender)
        raw, _ = pipe.execute()
    except redis.exceptions.RedisError as exc:
        logger.warning("collector replies for %s not read: %s", sender, exc)
        return []
    out = []
    for item in raw:
        try:
            entry = json.loads(item)
        except ValueError:
            continue
        entry.pop("at", None)
        out.append(entry)
    if out:
        _delivered(red, sender, len(out))
    return out


def _delivered(red: redis.Redis, sender: str, replies: int) -> None:
    """The contact log and the live transcript say the client was handed the kept replies."""
    try:
        note_delivered_replies(red, sender, "rest", replies)
    except Exception as exc:  # the replies are handed over either way; the note is best effort
        logger.warning("delivery of collector replies to %s not noted: %s", sender, exc)


class CollectionsRestInput(InputChannel):
    """POST ``{"sender": str, "message": str}`` → JSON list of bot messages."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"collections_rest_{type(self).__name__}", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def index(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/health", methods=["GET"])
        async def health_check(request: Request) -> HTTPResponse:
            ok, body = health(request.app)
            return response.json(body, status=200 if ok else 503)

        @bp.route("/collector_message", methods=["POST"])
        async def collector_message(request: Request) -> HTTPResponse:
            """A collector's reply from the console, kept until the client calls (bearer RASA_API_TOKEN)."""
            token = os.environ.get("RASA_API_TOKEN", "")
            if not token or not bearer_ok(request, token):
                return response.json({"error": "missing or wrong bearer token"}, status=401)
            body = json_body(request)
            sender, text = (body.get("sender"), body.get("text")) if isinstance(body, dict) else (None, None)
            if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_CHARS:
                return response.json({"error": "JSON body with 'sender' and 'text' required"}, status=400)
            if not isinstance(text, str) or not text.strip():
                return response.json({"error": "JSON body with 'sender' and 'text' required"}, status=400)
            red = _redis(request)
            if red is None:
                return response.json({"error": "no Redis: the reply cannot be kept"}, status=503)
            by = str(body.get("by") or "")[:40] or None
            try:
                keep_reply(red, sender, text[:MAX_COLLECTOR_CHARS], by)
            except redis.exceptions.RedisError as exc:
                return response.json({"error": f"the reply was not kept: {exc}"}, status=503)
            return response.json({"kept": True})

        @bp.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            """Collector replies kept for ``?sender=`` (each handed over once), for clients that poll."""
            token = os.environ.get("REST_API_TOKEN")
            if token and not bearer_ok(request, token):
                return response.json({"error": "missing or wrong bearer token"}, status=401)
            sender = (request.args.get("sender") or "").strip()
            if not sender or len(sender) > MAX_SENDER_CHARS:
                return response.json(
                    {"error": f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"},
                    status=400,
                )
            return response.json(take_replies(_redis(request), sender))

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            token = os.environ.get("REST_API_TOKEN")
            if token and not bearer_ok(request, token):
                return response.json({"error": "missing or wrong bearer token"}, status=401)
            body = json_body(request)
            if not isinstance(body, dict):
                return response.json({"error": "body must be a JSON object with 'sender' and 'message'"}, status=400)
            sender = body.get("sender")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return response.json(
                    {"error": f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"},
                    status=400,
                )
            raw = body.get("message")
            if raw is not None and not isinstance(raw, str):
                return response.json({"error": "'message' must be a string"}, status=400)
            text, notes = clean_text(raw)
            collector = CollectingOutputChannel()
            if not text:
                await collector.send_text_message(sender, EMPTY_REPLY)
                return response.json(take_replies(_redis(request), sender.strip()) + collector.messages)
            metadata = {"channel": "rest", **notes}
            message = UserMessage(text, collector, sender.strip(), input_channel=self.name(), metadata=metadata)
            await handle_guarded(request.app, on_new_message, message)
            # a person's replies written since the last call come first: they were written before this message
            return response.json(take_replies(_redis(request), sender.strip()) + collector.messages)

        return bp
