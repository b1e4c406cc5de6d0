"""Web chat over socket.io with signed session tokens, against the running bot."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import socketio

from channels.guard import EMPTY_REPLY
from tests.conftest import Bot
from tests.conversation.helpers import disclosure_due


class PromptClient(socketio.AsyncClient):  # type: ignore[misc]
    """A socket.io client whose ``disconnect`` does not wait for the long-poll under way to come
    back (up to the server's ping interval, 25 s): the close packet still goes to the server."""

    async def disconnect(self) -> None:
        for namespace in self.namespaces:
            await self._send_packet(self.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
        await self.eio.disconnect(abort=True)
        await asyncio.sleep(0.2)  # the close packet's own request


class ChatClient:
    """A socket.io client that records what the bot says."""

    def __init__(self, url: str, http_session: Any = None) -> None:
        self.url = url
        self.sio = PromptClient(reconnection=False, **({"http_session": http_session} if http_session else {}))
        self.received: list[dict[str, Any]] = []
        self.confirm: asyncio.Future[dict[str, Any]] | None = None
        self.errors: list[dict[str, Any]] = []
        self.typing: list[bool] = []  # the bot_typing events, in order
        self.turns_over = 0

        @self.sio.on("bot_typing")
        async def _typing(data: dict[str, Any]) -> None:
            self.typing.append(bool(data.get("typing")))
            self.turns_over += not data.get("typing")

        @self.sio.on("bot_uttered")
        async def _bot(data: dict[str, Any]) -> None:
            self.received.append(data)

        @self.sio.on("session_confirm")
        async def _confirm(data: dict[str, Any]) -> None:
            assert self.confirm is not None
            if not self.confirm.done():
                self.confirm.set_result(data)

        @self.sio.on("session_error")
        async def _error(data: dict[str, Any]) -> None:
            self.errors.append(data)

    async def start(self, token: str | None = None) -> dict[str, Any]:
        self.confirm = asyncio.get_running_loop().create_future()
        await self.sio.connect(self.url, socketio_path="/socket.io", transports=["polling"])
        await self.sio.emit("session_request", {"token": token} if token else {})
        return await asyncio.wait_for(self.confirm, 10)

    async def say(self, text: str, token: str, quiet: float = 1.5, timeout: float = 30) -> list[str]:
        """Send a message; collect bot texts until the server says the turn is over (``bot_typing``
        false), or, if it never does, until none arrive for ``quiet`` seconds."""
        start, turns = len(self.received), self.turns_over
        await self.sio.emit("user_uttered", {"message": text, "token": token})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_count, last_change = start, loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            if self.turns_over > turns:
                break
            if len(self.received) != last_count:
                last_count, last_change = len(self.received), loop.time()
            elif last_count > start and loop.time() - last_change > quiet:
                break
        return [m.get("text", "") for m in self.received[start:]]


def test_page_is_served(bot: Bot) -> None:
    with urllib.request.urlopen(bot.base_url + "/webhooks/webchat/", timeout=10) as resp:
        html = resp.read().decode()
    assert "socket.io.min.js" in html and "textContent" in html
    with urllib.request.urlopen(bot.base_url + "/webhooks/webchat/socket.io.min.js", timeout=10) as resp:
        assert b"Socket.IO" in resp.read(300)


def test_webchat_conversation_resumes_only_with_the_signed_token(bot: Bot, db_session: Any) -> None:
    disclosure = disclosure_due(db_session, "A-1002")

    async def scenario() -> None:
        first = ChatClient(bot.base_url)
        session = await first.start()
        token = session["token"]
        greeting = await first.say("hello", token)
        assert first.typing == [True, False]  # the page shows "typing" for the turn, then clears it
        # the business name only before right-party contact (12 CFR 1006.6(d)); no debt talk
        assert greeting[0] == "Hello, this is Example Lending.", (greeting, first.received, first.errors)
        assert not any("debt" in t.lower() for t in greeting)
        assert any("account reference" in t for t in greeting)
        await first.say("A-1002", token)
        await first.say("11/03/1979", token)
        verified = await first.say("my zip is 94110", token)
        assert any("confirmed" in t for t in verified)
        assert verified[0] == disclosure  # the mini-Miranda (or a later conversation's) first after RPC
        await first.sio.disconnect()

        # a page reload with the signed token continues the same conversation
        again = ChatClient(bot.base_url)
        resumed = await again.start(token)
        assert resumed["session_id"] == session["session_id"]
        balance = await again.say("whats my balance", token)
        assert any("$3,800.00" in t for t in balance), balance
        await again.sio.disconnect()

        # a guessed or tampered token gets a fresh session, not the debtor's conversation
        thief = ChatClient(bot.base_url)
        forged = session["session_id"] + "." + "0" * 64
        stolen = await thief.start(forged)
        assert stolen["session_id"] != session["session_id"]
        await thief.sio.emit("user_uttered", {"message": "whats my balance", "token": forged})
        await asyncio.sleep(1.5)
        assert thief.errors and not any("3,800" in m.get("text", "") for m in thief.received)
        await thief.sio.disconnect()

    asyncio.run(scenario())


def test_webchat_refuses_what_is_not_text_and_a_bad_collector_token(bot: Bot) -> None:
    async def scenario() -> None:
        client = ChatClient(bot.base_url)
        token = (await client.start())["token"]
        for not_text in (["x"], {"text": "hi"}, 42):
            assert await client.say(not_text, token, quiet=0.5) == [EMPTY_REPLY], not_text  # type: ignore[arg-type]
        assert client.typing == [True, False] * 3
        await client.sio.disconnect()

    asyncio.run(scenario())
    for header in ("Bearer \u00e9", "Bearer wrong", ""):
        request = urllib.request.Request(
            bot.base_url + "/webhooks/webchat/collector_message",
            data=b'{"session_id": "s", "text": "hi"}',
            headers={"Content-Type": "application/json", "Authorization": header.encode().decode("latin-1")},
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401, (header, e.code)
