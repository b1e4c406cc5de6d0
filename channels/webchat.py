"""Web chat: a page served by the bot at ``/webhooks/webchat/`` and a socket.io endpoint.

Sessions persist across page reloads through a token the server signs (HMAC-SHA256): a client
that guesses or copies another session id without its token gets a new session instead.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from channels.guard import EMPTY_REPLY, bearer_ok, clean_text, handle_guarded, json_body

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ROOT = Path(__file__).resolve().parent.parent
SOCKETIO_PATH = "/socket.io"


def _secret() -> bytes:
    """``WEBCHAT_SECRET`` or a random secret kept in ``var/webchat_secret`` (shared by replicas on one host)."""
    env = os.environ.get("WEBCHAT_SECRET")
    if env:
        return env.encode()
    path = ROOT / "var" / "webchat_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def sign_session(session_id: str, key: bytes) -> str:
    """``<session_id>.<hmac>``: the token a browser keeps to resume its session."""
    mac = hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()
    return f"{session_id}.{mac}"


def verify_session(token: Any, key: bytes) -> str | None:
    """The session id inside a valid token, else None."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
        return None
    session_id, _ = token.split(".")
    # bytes: compare_digest refuses str with non-ASCII characters (a hostile token is not a crash)
    expected = sign_session(session_id, key).encode()
    return session_id if hmac.compare_digest(expected, token.encode("utf-8", "replace")) else None


class WebChatOutput(OutputChannel):
    """Sends bot messages to every socket of a web chat session (its room)."""

    def __init__(self, sio: AsyncServer, event: str = "bot_uttered") -> None:
        self.sio = sio
        self.event = event

    @classmethod
    def name(cls) -> str:
        return "webchat"

    async def _emit(self, recipient_id: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(self.event, payload, room=recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in text.strip().split("\n\n"):
            await self._emit(recipient_id, {"text": part})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._emit(
            recipient_id,
            {"text": text, "quick_replies": [{"title": b["title"], "payload": b["title"]} for b in buttons]},
        )

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._emit(recipient_id, json_message)


class WebChatInput(InputChannel):
    """socket.io events: ``session_request`` {token?} → ``session_confirm`` {session_id, token};
    ``user_uttered`` {message, token} → ``bot_uttered`` {text} (one per bot message)."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def __init__(self) -> None:
        self.sio: AsyncServer | None = None
        self.key = _secret()

    def get_output_channel(self) -> OutputChannel | None:
        return WebChatOutput(self.sio) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        # mounts socket.io at SOCKETIO_PATH on the app when the blueprint is registered
        bp = SocketBlueprint(sio, SOCKETIO_PATH, "collections_webchat", module.__name__ if module else None)
        app_ref: dict[str, Any] = {}

        @bp.listener("after_server_start")
        async def _attach(app: Any, _loop: Any) -> None:
            app_ref["app"] = app

        @bp.route("/", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return await response.file(STATIC / "webchat.html", mime_type="text/html")

        @bp.route("/socket.io.min.js", methods=["GET"])
        async def client_js(_: Request) -> HTTPResponse:
            return await response.file(STATIC / "socket.io.min.js", mime_type="application/javascript")

        @bp.route("/collector_message", methods=["POST"])
        async def collector_message(request: Request) -> HTTPResponse:
            """A collector's reply from the console to a web chat session (bearer RASA_API_TOKEN)."""
            token = os.environ.get("RASA_API_TOKEN", "")
            if not token or not bearer_ok(request, token):
                return response.json({"error": "missing or wrong bearer token"}, status=401)
            body = json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("session_id"), str) or not body.get("text"):
                return response.json({"error": "JSON body with 'session_id' and 'text' required"}, status=400)
            session_id, text = body["session_id"], str(body["text"])[:2000]
            connected = bool(sio.manager.rooms.get("/", {}).get(session_id))
            await sio.emit("bot_uttered", {"text": text, "from": "collector"}, room=session_id)
            return response.json({"delivered": connected})

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_: Any) -> None:
            token = data.get("token") if isinstance(data, dict) else None
            session_id = verify_session(token, self.key) or secrets.token_hex(16)
            await sio.enter_room(sid, session_id)
            await sio.emit(
                "session_confirm", {"session_id": session_id, "token": sign_session(session_id, self.key)}, room=sid
            )

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any = None, *_: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = verify_session(data.get("token"), self.key)
            if session_id is None:
                await sio.emit(
                    "session_error", {"error": "invalid or missing session token; request a session first"}, room=sid
                )
                return
            await sio.enter_room(sid, session_id)
            output = WebChatOutput(sio)
            raw = data.get("message")
            text, notes = clean_text(raw if isinstance(raw, str) else None)  # a list or object is not text
            if not text:
                await output.send_text_message(session_id, EMPTY_REPLY)
                return
            message = UserMessage(
                text, output, session_id, input_channel=self.name(), metadata={"channel": "webchat", **notes}
            )
            app = app_ref.get("app")
            if app is None:
                logger.error("web chat message before server start")
                return
            await handle_guarded(app, on_new_message, message)

        return bp
