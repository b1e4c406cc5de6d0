"""REST channel at ``/webhooks/rest/webhook`` (same contract as Rasa's), hardened.

The sender id is chosen by the caller, so this channel is for trusted back ends: set
``REST_API_TOKEN`` and send ``Authorization: Bearer <token>`` wherever it is reachable by others
(debtors use the web chat, SMS or voice). Differences from Rasa's stock ``RestInput``: bad JSON or fields answer 400 with a reason instead
of 500; message metadata from the client is not trusted; slash commands are plain text; a store
outage answers an explicit "try again" instead of a reply without context; ``GET
/webhooks/rest/health`` fails (503) when Redis or the model is not there.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import EMPTY_REPLY, bearer_ok, clean_text, handle_guarded, health, json_body

MAX_SENDER_CHARS = 128


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
                return response.json(collector.messages)
            metadata = {"channel": "rest", **notes}
            message = UserMessage(text, collector, sender.strip(), input_channel=self.name(), metadata=metadata)
            await handle_guarded(request.app, on_new_message, message)
            return response.json(collector.messages)

        return bp
