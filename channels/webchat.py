"""Web chat: a page served by the bot at ``/webhooks/webchat/`` and a socket.io endpoint.

Sessions persist across page reloads and closed tabs through a token the server signs
(HMAC-SHA256), kept by the browser until the debtor ends the chat: a client that guesses or copies
another session id without its token gets a new session instead. The server keeps each session's
messages (:class:`WebChatHistory`, in Redis) and sends them back when the session resumes, so a
reload or a new tab shows the conversation, and a collector's reply written while the chat was
closed is shown when the debtor returns (its delivery is then in the contact log). Collector
messages carry ``from: collector`` and a name, and the page labels them as from a person.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any

import redis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.handoff import note_delivered_replies
from bot.texts import page_language, texts_for
from channels.guard import EMPTY_REPLY, bearer_ok, clean_text, handle_guarded, json_body
from stores.redis_store import redis_client

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ROOT = Path(__file__).resolve().parent.parent
SOCKETIO_PATH = "/socket.io"
TYPING_EVENT = "bot_typing"  # {typing: bool}: the page shows the assistant typing while a turn runs


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


HISTORY_PREFIX = "collections:webchat:history:"
PENDING_PREFIX = "collections:webchat:pending:"  # collector replies written while the chat was closed
HISTORY_MAX = 300  # messages kept per session
HISTORY_TTL = 30 * 24 * 3600  # seconds after the last message


class WebChatHistory:
    """The messages of each web chat session as its browser showed them (Redis lists), so a
    resumed session can show them again. Each entry: ``from`` (user, bot, collector), ``text``,
    ``at`` (epoch seconds) and, for a collector, ``by``. Redis errors are logged, never raised:
    the conversation goes on without its history."""

    def __init__(self, red: Callable[[], redis.Redis | None]) -> None:
        self.red = red

    def add(self, session_id: str, sender: str, text: str, by: str | None = None, pending: bool = False) -> None:
        """Append a message; ``pending`` marks a collector reply nobody was connected to see."""
        client = self.red()
        if client is None:
            return
        entry = {"from": sender, "text": text, "at": time.time(), **({"by": by} if by else {})}
        try:
            pipe = client.pipeline()
            pipe.rpush(HISTORY_PREFIX + session_id, json.dumps(entry))
            pipe.ltrim(HISTORY_PREFIX + session_id, -HISTORY_MAX, -1)
            pipe.expire(HISTORY_PREFIX + session_id, HISTORY_TTL)
            if pending:
                pipe.incr(PENDING_PREFIX + session_id)
                pipe.expire(PENDING_PREFIX + session_id, HISTORY_TTL)
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            logger.warning("web chat history of %s not kept: %s", session_id, exc)

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        """The session's messages, oldest first."""
        client = self.red()
        if client is None:
            return []
        try:
            return [json.loads(raw) for raw in client.lrange(HISTORY_PREFIX + session_id, 0, -1)]
        except (redis.exceptions.RedisError, ValueError) as exc:
            logger.warning("web chat history of %s not read: %s", session_id, exc)
            return []

    def take_pending(self, session_id: str) -> int:
        """How many collector replies waited for the debtor to come back (and forget them)."""
        client = self.red()
        if client is None:
            return 0
        try:
            pipe = client.pipeline()
            pipe.get(PENDING_PREFIX + session_id)
            pipe.delete(PENDING_PREFIX + session_id)
            count, _ = pipe.execute()
            return int(count or 0)
        except (redis.exceptions.RedisError, ValueError):
            return 0

    def forget(self, session_id: str) -> None:
        """Drop the session's history (the debtor ended the chat)."""
        client = self.red()
        if client is not None:
            try:
                client.delete(HISTORY_PREFIX + session_id, PENDING_PREFIX + session_id)
            except redis.exceptions.RedisError as exc:
                logger.warning("web chat history of %s not forgotten: %s", session_id, exc)


def render_page(language: str | None = None) -> str:
    """The chat page with its texts (``webchat.*`` in ``data/texts``) filled in, HTML-escaped:
    the lender's name and what this is are on the page before anything is typed."""
    texts = texts_for(language)
    page = (STATIC / "webchat.html").read_text(encoding="utf-8")
    labels = {k[len("webchat.") :]: v for k, v in texts.entries.items() if k.startswith("webchat.")}
    page = page.replace("{{lang}}", escape(texts.language))
    # inside <script> HTML entities are not decoded: the JSON escapes <, > and & itself
    script_json = json.dumps(labels).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = page.replace("{{labels_json}}", script_json)
    for key, value in labels.items():
        page = page.replace("{{" + key + "}}", escape(value))
    return page


class WebChatOutput(OutputChannel):
    """Sends bot messages to every socket of a web chat session (its room) and keeps them in the
    session's history."""

    def __init__(self, sio: AsyncServer, event: str = "bot_uttered", history: WebChatHistory | None = None) -> None:
        self.sio = sio
        self.event = event
        self.history = history

    @classmethod
    def name(cls) -> str:
        return "webchat"

    async def _emit(self, recipient_id: str, payload: dict[str, Any]) -> None:
        if self.history is not None and payload.get("text"):
            self.history.add(recipient_id, "bot", str(payload["text"]))
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
    ``user_uttered`` {message, token} → ``bot_typing`` {typing: true}, ``bot_uttered`` {text} (one
    per bot message), then ``bot_typing`` {typing: false} when the turn is over (also when the bot
    says nothing: a person has the conversation)."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def __init__(self) -> None:
        self.sio: AsyncServer | None = None
        self.key = _secret()
        self.app: Any = None
        self.history = WebChatHistory(self._redis)

    def _redis(self) -> redis.Redis | None:
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
        return redis_client(agent.tracker_store) if agent is not None and agent.tracker_store is not None else None

    def get_output_channel(self) -> OutputChannel | None:
        return WebChatOutput(self.sio, history=self.history) if self.sio else None

    def _returned(self, session_id: str, replies: int) -> None:
        """The debtor is back in a session where collector replies waited: say so in the contact
        log and the live transcript."""
        note_delivered_replies(self._redis(), session_id, "webchat", replies)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        # mounts socket.io at SOCKETIO_PATH on the app when the blueprint is registered
        bp = SocketBlueprint(sio, SOCKETIO_PATH, "collections_webchat", module.__name__ if module else None)

        @bp.listener("after_server_start")
        async def _attach(app: Any, _loop: Any) -> None:
            self.app = app

        @bp.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return response.html(
                render_page(page_language(request.args.get("lang"), request.headers.get("accept-language")))
            )

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
            by = str(body.get("by") or "")[:40] or None
            connected = bool(sio.manager.rooms.get("/", {}).get(session_id))
            # kept either way: a closed chat shows it when the debtor comes back
            self.history.add(session_id, "collector", text, by=by, pending=not connected)
            await sio.emit("bot_uttered", {"text": text, "from": "collector", "by": by}, room=session_id)
            return response.json({"delivered": connected, "kept": True})

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_: Any) -> None:
            token = data.get("token") if isinstance(data, dict) else None
            resumed = verify_session(token, self.key)
            session_id = resumed or secrets.token_hex(16)
            await sio.enter_room(sid, session_id)
            await sio.emit(
                "session_confirm", {"session_id": session_id, "token": sign_session(session_id, self.key)}, room=sid
            )
            if resumed:
                await sio.emit("history", {"messages": self.history.messages(session_id)}, room=sid)
                waited = self.history.take_pending(session_id)
                if waited:
                    try:
                        self._returned(session_id, waited)
                    except Exception:
                        logger.exception("return of %s to the chat not recorded", session_id)

        @sio.on("end_session")
        async def end_session(sid: str, data: Any = None, *_: Any) -> None:
            """The debtor ended the chat: the server forgets the page's copy of it (the tracker
            and the contact log keep the record)."""
            session_id = verify_session(data.get("token") if isinstance(data, dict) else None, self.key)
            if session_id is not None:
                self.history.forget(session_id)
                await sio.leave_room(sid, session_id)

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
            # the page shows "typing" from here until the turn is over, replies or not
            await sio.emit(TYPING_EVENT, {"typing": True}, room=session_id)
            try:
                await self._handle(sio, session_id, data.get("message"), on_new_message)
            finally:
                await sio.emit(TYPING_EVENT, {"typing": False}, room=session_id)

        return bp

    async def _handle(
        self, sio: AsyncServer, session_id: str, raw: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """One debtor message of ``session_id``: cleaned, kept in the page's history, handled."""
        output = WebChatOutput(sio, history=self.history)
        text, notes = clean_text(raw if isinstance(raw, str) else None)  # a list or object is not text
        if not text:
            await output.send_text_message(session_id, EMPTY_REPLY)
            return
        self.history.add(session_id, "user", text)  # as cleaned: no card number is kept
        message = UserMessage(
            text, output, session_id, input_channel=self.name(), metadata={"channel": "webchat", **notes}
        )
        if self.app is None:
            logger.error("web chat message before server start")
            return
        await handle_guarded(self.app, on_new_message, message)
