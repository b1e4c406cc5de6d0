"""A local stand-in for Twilio's REST API (the only stand-in in this project: Twilio's cloud is
not reachable from here). The real ``twilio`` client is pointed at it with TWILIO_API_BASE_URL.

Speaks the parts of the 2010-04-01 API the bot uses: create a Message, create a Call (form
bodies, HTTP Basic auth with the account SID and auth token, JSON answers shaped like Twilio's).
Sent messages get a signed ``delivered`` status callback when one was given, and their
``num_segments`` the way Twilio bills them (GSM-7: 160 septets, or 153 a part, the escaped
characters of the extension table costing two and never cut between parts; otherwise UCS-2: 70
UTF-16 units, or 67 a part, a surrogate pair never cut), counted here on its own so a test can
hold the bot's own count against it. Test hooks:

- ``GET  /fake/messages`` and ``GET /fake/calls``: what was sent;
- ``POST /fake/fail`` ``{"count": N, "status": 500, "code": 20500}``: fail the next N creates;
- ``POST /fake/reset``: forget everything.

    python -m scripts.fake_twilio --port 8099 --account-sid AC... --auth-token ...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

# GSM 03.38: the basic set, and the extension table (sent as ESC + character, two septets)
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


def billed_segments(body: str) -> tuple[str, int]:
    """(encoding, segments) of ``body`` as Twilio sends and bills it."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in body):
        encoding, sizes, single, part = "GSM-7", [2 if c in _GSM_EXTENSION else 1 for c in body], 160, 153
    else:
        encoding, sizes, single, part = "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body], 70, 67
    if sum(sizes) <= single:
        return encoding, 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return encoding, segments


class FakeTwilio:
    """In-memory state of the fake API."""

    def __init__(self, account_sid: str, auth_token: str, rewrite: tuple[str, str] | None = None) -> None:
        self.rewrite = rewrite  # (public base, local base): where a callback to PUBLIC_URL really goes
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.failures: list[tuple[int, int]] = []
        self.counter = itertools.count(1)

    def _authorised(self, request: web.Request, sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return sid == self.account_sid and user == self.account_sid and password == self.auth_token

    def _error(self, status: int, code: int, message: str) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status)

    async def _accept(self, request: web.Request) -> tuple[str, Any, web.Response | None]:
        """(account SID, form, refusal): Basic auth, then any injected failure."""
        sid = request.match_info["sid"]
        if not self._authorised(request, sid):
            return sid, None, self._error(401, 20003, "Authenticate")
        form = await request.post()
        if self.failures:
            status, code = self.failures.pop(0)
            return sid, form, self._error(status, code, "injected failure")
        return sid, form, None

    async def create_message(self, request: web.Request) -> web.Response:
        sid, form, refusal = await self._accept(request)
        if refusal is not None:
            return refusal
        if not form.get("To") or not (form.get("Body") or form.get("MediaUrl")):
            return self._error(400, 21602, "Message body is required.")
        message_sid = f"SM{next(self.counter):032x}"
        encoding, segments = billed_segments(str(form.get("Body") or ""))
        now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        record = {
            "sid": message_sid,
            "account_sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": str(segments),
            "encoding": encoding,
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "messaging_service_sid": None,
            "num_media": "0",
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
            "subresource_uris": {},
            "status_callback": form.get("StatusCallback"),
        }
        self.messages.append(record)
        if record["status_callback"]:
            asyncio.get_running_loop().create_task(self._callback(record))
        return web.json_response(
            {k: v for k, v in record.items() if k not in ("status_callback", "encoding")}, status=201
        )

    async def _callback(self, record: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)
        params = {
            "MessageSid": record["sid"],
            "MessageStatus": "delivered",
            "AccountSid": self.account_sid,
            "To": record["to"],
            "From": record["from"],
        }
        url = record["status_callback"]
        signature = RequestValidator(self.auth_token).compute_signature(url, params)  # Twilio signs the public URL
        if self.rewrite and url.startswith(self.rewrite[0]):
            url = self.rewrite[1] + url[len(self.rewrite[0]) :]
        try:
            async with aiohttp.ClientSession() as session:
                await session.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass  # the bot may be down in a test; Twilio would retry, we do not

    async def create_call(self, request: web.Request) -> web.Response:
        sid, form, refusal = await self._accept(request)
        if refusal is not None:
            return refusal
        call_sid = f"CA{next(self.counter):032x}"
        record = {
            "sid": call_sid,
            "account_sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
            "direction": "outbound-api",
            "url": form.get("Url"),
            "uri": f"/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
            "subresource_uris": {},
        }
        self.calls.append(record)
        return web.json_response(record, status=201)

    async def list_messages(self, _: web.Request) -> web.Response:
        return web.json_response(self.messages)

    async def list_calls(self, _: web.Request) -> web.Response:
        return web.json_response(self.calls)

    async def fail(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.failures += [(int(body.get("status", 500)), int(body.get("code", 20500)))] * int(body.get("count", 1))
        return web.json_response({"pending_failures": len(self.failures)})

    async def reset(self, _: web.Request) -> web.Response:
        self.messages.clear()
        self.calls.clear()
        self.failures.clear()
        return web.json_response({"ok": True})


def make_app(account_sid: str, auth_token: str, rewrite: tuple[str, str] | None = None) -> web.Application:
    """The aiohttp application serving the fake API."""
    fake = FakeTwilio(account_sid, auth_token, rewrite)
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", fake.create_message)
    app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", fake.create_call)
    app.router.add_get("/fake/messages", fake.list_messages)
    app.router.add_get("/fake/calls", fake.list_calls)
    app.router.add_post("/fake/fail", fake.fail)
    app.router.add_post("/fake/reset", fake.reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--rewrite", help="PUBLIC=LOCAL: deliver callbacks for the public base URL to a local one")
    args = parser.parse_args()
    rewrite = tuple(args.rewrite.split("=", 1)) if args.rewrite else None
    web.run_app(make_app(args.account_sid, args.auth_token, rewrite), host="127.0.0.1", port=args.port, print=None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
