"""A local stand-in for the payment provider's API (Stripe's cloud is not reachable from here),
as ``scripts/fake_twilio.py`` is for Twilio. The real ``stripe`` client is pointed at it with
STRIPE_API_BASE.

Speaks the part of Stripe's v1 API the bot uses: create and retrieve a Checkout Session (form
bodies with bracketed keys, ``Authorization: Bearer <secret key>``, JSON answers shaped like
Stripe's). Each session has a hosted payment page, ``GET /pay/<session id>``, where the payer
types a card number (only the test card 4242 4242 4242 4242 is accepted) and pays; the session
is then complete and a ``checkout.session.completed`` event is posted to the webhook URL, signed
like Stripe's (``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">``). Card numbers
stay in this server: the event, like Stripe's, carries none. Test hooks:

- ``GET /fake/sessions`` and ``GET /fake/events``: what was created and sent;
- ``POST /fake/sessions/<id>/pay``: pay a session without the page (returns the event);
- ``POST /fake/events/<id>/resend``: deliver an event again (a replay);
- ``POST /fake/fail`` ``{"count": N, "status": 500}``: fail the next N creates;
- ``POST /fake/reset``: forget everything.

    python -m scripts.fake_stripe --port 8098 --api-key sk_test_... --webhook-secret whsec_... \\
        --webhook-url http://127.0.0.1:5005/webhooks/payments/webhook
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import itertools
import json
import re
import time
from typing import Any

import aiohttp
from aiohttp import web

TEST_CARD = "4242424242424242"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price_data][currency]=usd``) as nested JSON:
    bracketed numbers are list indexes, other brackets are keys."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            following = None if last else parts[i + 1]
            child: Any = value if last else ([] if following is not None and following.isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = child
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = child
                node = node[part]
    return root


def signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload`` signed with the endpoint ``secret``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


class FakeStripe:
    """In-memory state of the fake API."""

    def __init__(self, api_key: str, webhook_secret: str, webhook_url: str | None, public_base: str) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.public_base = public_base.rstrip("/")
        self.sessions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.failures: list[int] = []
        self.counter = itertools.count(1)

    def _error(self, status: int, kind: str, message: str) -> web.Response:
        return web.json_response({"error": {"type": kind, "message": message}}, status=status)

    def _authorised(self, request: web.Request) -> bool:
        return hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.api_key}")

    async def create_session(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        if self.failures:
            return self._error(self.failures.pop(0), "api_error", "injected failure")
        params = parse_form(list((await request.post()).items()))  # type: ignore[arg-type]
        items = params.get("line_items") or []
        try:
            price = items[0]["price_data"]
            amount, currency = int(price["unit_amount"]), str(price["currency"])
            quantity = int(items[0].get("quantity", 1))
        except (IndexError, KeyError, TypeError, ValueError):
            return self._error(400, "invalid_request_error", "line_items[0][price_data] is required")
        if amount <= 0 or params.get("mode") != "payment" or not params.get("success_url"):
            return self._error(
                400, "invalid_request_error", "mode=payment, success_url and a positive amount are required"
            )
        session_id = f"cs_test_{next(self.counter):024d}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "amount_subtotal": amount * quantity,
            "amount_total": amount * quantity,
            "currency": currency,
            "status": "open",
            "payment_status": "unpaid",
            "metadata": params.get("metadata") or {},
            "client_reference_id": params.get("client_reference_id"),
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "created": int(time.time()),
            "livemode": False,
            "payment_intent": None,
            "product_name": (items[0]["price_data"].get("product_data") or {}).get("name", "Payment"),
            "url": f"{self.public_base}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return web.json_response(self._public(session))

    @staticmethod
    def _public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if k != "product_name"}

    async def get_session(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self._error(404, "invalid_request_error", "No such checkout.session")
        return web.json_response(self._public(session))

    def _page(self, session: dict[str, Any], message: str = "") -> web.Response:
        amount = f"{session['amount_total'] / 100:,.2f} {session['currency'].upper()}"
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Pay {html.escape(amount)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;font-size:1rem;margin:.4rem 0}}input{{padding:.5rem}}
button{{padding:.6rem;background:#635bff;color:#fff;border:0;border-radius:.4rem}}</style></head><body>
<h1>Pay {html.escape(amount)}</h1><p>{html.escape(session["product_name"])}</p>
<p id="state">{html.escape(session["status"])}</p><p class="message">{html.escape(message)}</p>
<form method="post"><label for="card">Card number</label>
<input id="card" name="card" inputmode="numeric" autocomplete="cc-number">
<button id="pay" type="submit">Pay {html.escape(amount)}</button></form></body></html>"""
        return web.Response(text=body, content_type="text/html")

    async def pay_page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such payment page")
        return self._page(session)

    async def pay_submit(self, request: web.Request) -> web.StreamResponse:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such payment page")
        card = re.sub(r"\D", "", str((await request.post()).get("card", "")))
        if session["status"] != "open":
            return self._page(session, "This payment page is no longer open.")
        if card != TEST_CARD:
            return self._page(session, "Your card was declined.")
        await self._complete(session)
        raise web.HTTPSeeOther(session["success_url"])

    async def _complete(self, session: dict[str, Any]) -> dict[str, Any]:
        session.update(status="complete", payment_status="paid", payment_intent=f"pi_test_{next(self.counter):024d}")
        event = {
            "id": f"evt_test_{next(self.counter):024d}",
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "type": "checkout.session.completed",
            "data": {"object": self._public(session)},
        }
        self.events.append(event)
        await self._deliver(event)
        return event

    async def _deliver(self, event: dict[str, Any]) -> None:
        if not self.webhook_url:
            return
        payload = json.dumps(event)
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature(payload, self.webhook_secret)}
        status = None
        for _ in range(3):  # Stripe retries for days; a test needs a few quick tries
            try:
                async with (
                    aiohttp.ClientSession() as client,
                    client.post(self.webhook_url, data=payload, headers=headers, timeout=10) as resp,
                ):
                    status = resp.status
                    if resp.status < 500:
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = None
            await asyncio.sleep(0.5)
        self.deliveries.append({"event": event["id"], "status": status})

    async def fake_pay(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None or session["status"] != "open":
            return web.json_response({"error": "no open session"}, status=404)
        return web.json_response(await self._complete(session))

    async def resend(self, request: web.Request) -> web.Response:
        event = next((e for e in self.events if e["id"] == request.match_info["id"]), None)
        if event is None:
            return web.json_response({"error": "no such event"}, status=404)
        await self._deliver(event)
        return web.json_response({"resent": event["id"], "status": self.deliveries[-1]["status"]})

    async def list_sessions(self, _: web.Request) -> web.Response:
        return web.json_response([self._public(s) for s in self.sessions.values()])

    async def list_events(self, _: web.Request) -> web.Response:
        return web.json_response({"events": self.events, "deliveries": self.deliveries})

    async def fail(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        self.failures += [int(body.get("status", 500))] * int(body.get("count", 1))
        return web.json_response({"pending_failures": len(self.failures)})

    async def reset(self, _: web.Request) -> web.Response:
        self.sessions.clear()
        self.events.clear()
        self.deliveries.clear()
        self.failures.clear()
        return web.json_response({"ok": True})


def make_app(api_key: str, webhook_secret: str, webhook_url: str | None, public_base: str) -> web.Application:
    """The aiohttp application serving the fake API and its hosted payment pages."""
    fake = FakeStripe(api_key, webhook_secret, webhook_url, public_base)
    app = web.Application()
    app.router.add_post("/v1/checkout/sessions", fake.create_session)
    app.router.add_get("/v1/checkout/sessions/{id}", fake.get_session)
    app.router.add_get("/pay/{id}", fake.pay_page)
    app.router.add_post("/pay/{id}", fake.pay_submit)
    app.router.add_get("/fake/sessions", fake.list_sessions)
    app.router.add_get("/fake/events", fake.list_events)
    app.router.add_post("/fake/sessions/{id}/pay", fake.fake_pay)
    app.router.add_post("/fake/events/{id}/resend", fake.resend)
    app.router.add_post("/fake/fail", fake.fail)
    app.router.add_post("/fake/reset", fake.reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--webhook-url", help="where checkout.session.completed events are posted")
    args = parser.parse_args()
    app = make_app(args.api_key, args.webhook_secret, args.webhook_url, f"http://127.0.0.1:{args.port}")
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
