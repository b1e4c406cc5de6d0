"""A local stand-in for Twilio's REST API (the only stand-in in this project: Twilio's cloud is
not reachable from here). The real ``twilio`` client is pointed at it with TWILIO_API_BASE_URL.

Speaks the parts of the 2010-04-01 API the bot uses: create a Message, create a Call (form
bodies, HTTP Basic auth with the account SID and auth token, JSON answers shaped like Twilio's).
Sent messages get a signed ``delivered`` status callback when one was given, and their
``num_segments`` the way Twilio bills them (GSM-7: 160 septets, or 153 a part, the escaped
characters of the extension table costing two and never cut between parts; otherwise UCS-2: 70
UTF-16 units, or 67 a part, a surrogate pair never cut), counted here on its own so a test can
hold the bot's own count against it. Like Twilio's Advanced Opt-Out, an inbound STOP, START or
HELP is answered by Twilio itself (the one confirmation a debtor gets), still passed to the bot's
webhook with ``OptOutType``, and a message to a number that sent STOP is refused with error 21610
until START. A call is answered: the fake asks the call's ``Url`` for TwiML as Twilio does, with
``AnsweredBy`` when the call was created with ``MachineDetection`` (a person, or a machine after
the beep). Test hooks:

- ``GET  /fake/messages`` and ``GET /fake/calls``: what was sent (auto replies carry
  ``"auto_reply": true``; calls carry ``answered_by`` and the ``twiml`` the bot answered);
- ``POST /fake/inbound`` ``{"from": "+1...", "body": "STOP"}``: a debtor's SMS to our number,
  through Twilio's keyword handling to the bot's signed SMS webhook; answers what Twilio sent back;
- ``POST /fake/answer`` ``{"to": "+1...", "answered_by": "machine_end_beep"}``: how the next
  calls to that number are answered (default "human");
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


# Twilio's Advanced Opt-Out keywords and its default replies
STOP_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_KEYWORDS = {"START", "YES", "UNSTOP"}
HELP_KEYWORDS = {"HELP", "INFO"}
OPT_OUT_REPLIES = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}


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
        self.unsubscribed: set[str] = set()  # numbers that sent STOP (Advanced Opt-Out)
        self.answers: dict[str, str] = {}  # number -> AnsweredBy for calls to it
        self.inbound: list[dict[str, Any]] = []

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
        if form.get("To") in self.unsubscribed:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
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
        answer = {k: v for k, v in record.items()}
        record["machine_detection"] = form.get("MachineDetection")
        record["twiml"] = form.get("Twiml")
        if form.get("Url"):
            asyncio.get_running_loop().create_task(self._answer(record))
        return web.json_response(answer, status=201)

    async def _post_signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST ``params`` to ``url`` signed as Twilio signs (against the public URL); (status, body)."""
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        if self.rewrite and url.startswith(self.rewrite[0]):
            url = self.rewrite[1] + url[len(self.rewrite[0]) :]
        headers = {"X-Twilio-Signature": signature}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=params, headers=headers, timeout=30) as resp,
        ):
            return resp.status, await resp.text()

    async def _answer(self, record: dict[str, Any]) -> None:
        """The call connects: ask its Url for TwiML, with AnsweredBy when machine detection was asked for."""
        await asyncio.sleep(0.05)
        params = {
            "CallSid": record["sid"],
            "AccountSid": self.account_sid,
            "From": record["from"] or "",
            "To": record["to"] or "",
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        if record.get("machine_detection"):
            params["AnsweredBy"] = self.answers.get(record["to"] or "", "human")
            record["answered_by"] = params["AnsweredBy"]
        try:
            status, body = await self._post_signed(record["url"], params)
            record["status"] = "in-progress" if status == 200 else "failed"
            record["twiml"] = body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            record["status"] = "failed"
            record["twiml"] = f"error: {exc}"

    async def inbound_sms(self, request: web.Request) -> web.Response:
        """A debtor's SMS to our number. STOP, START and HELP are answered by Twilio itself
        (Advanced Opt-Out's default texts) and still reach the webhook with ``OptOutType``."""
        body = json.loads(await request.text() or "{}")
        phone, text = str(body.get("from", "")), str(body.get("body", ""))
        if not phone or not self.rewrite:
            return web.json_response({"error": "'from' is required, and the fake needs --rewrite"}, status=400)
        keyword = text.strip().upper()
        reply, kind = None, None
        if keyword in STOP_KEYWORDS:
            self.unsubscribed.add(phone)
            reply, kind = OPT_OUT_REPLIES["STOP"], "STOP"
        elif keyword in START_KEYWORDS and (keyword != "YES" or phone in self.unsubscribed):
            # YES opts back in only a number that opted out (otherwise it is an answer)
            self.unsubscribed.discard(phone)
            reply, kind = OPT_OUT_REPLIES["START"], "START"
        elif keyword in HELP_KEYWORDS:
            reply, kind = OPT_OUT_REPLIES["HELP"], "HELP"
        params = {
            "From": phone,
            "To": str(body.get("to") or "+15559870000"),
            "Body": text,
            "MessageSid": f"SM{next(self.counter):032x}",
            "AccountSid": self.account_sid,
            "NumMedia": "0",
        }
        if kind:
            params["OptOutType"] = kind
            now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self.messages.append(
                {
                    "sid": f"SM{next(self.counter):032x}",
                    "to": phone,
                    "from": params["To"],
                    "body": reply,
                    "status": "delivered",
                    "num_segments": str(billed_segments(reply)[1]),
                    "auto_reply": True,
                    "date_created": now,
                }
            )
        self.inbound.append(params)
        status, _ = await self._post_signed(f"{self.rewrite[0]}/webhooks/twilio_sms/webhook", params)
        return web.json_response({"webhook_status": status, "auto_reply": reply})

    async def set_answer(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.answers[str(body.get("to", ""))] = str(body.get("answered_by", "human"))
        return web.json_response({"ok": True})

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
        self.unsubscribed.clear()
        self.answers.clear()
        self.inbound.clear()
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
    app.router.add_post("/fake/inbound", fake.inbound_sms)
    app.router.add_post("/fake/answer", fake.set_answer)
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
