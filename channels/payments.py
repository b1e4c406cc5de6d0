"""The payment provider's webhook at ``/webhooks/payments/webhook`` and the page the payer comes
back to (``/webhooks/payments/done``). No debtor message comes in here: the channel only records
payments (:mod:`bot.repayment.payment_links`).

A delivery whose ``Stripe-Signature`` does not check out gets 400 and changes nothing; a verified
event is stored once by its id, so a replay or a redelivery is answered 200 and ignored; a
database outage answers 503, so the provider delivers the event again later.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.repayment.payment_links import BadWebhook, PaymentSettings, handle_webhook
from bot.texts import page_language, texts_for

logger = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # a Checkout Session event is a few kB


class PaymentWebhookInput(InputChannel):
    """Settings from the environment (:meth:`PaymentSettings.from_env`)."""

    @classmethod
    def name(cls) -> str:
        return "payments"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(PaymentSettings.from_env())

    def __init__(self, settings: PaymentSettings) -> None:
        self.settings = settings

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint("collections_payments", module.__name__ if module else None)

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            body = bytes(request.body or b"")
            if len(body) > MAX_BODY:
                return response.json({"error": "payload too large"}, status=413)
            try:
                # the database work runs off the event loop: the Rasa server keeps answering
                result = await asyncio.to_thread(
                    handle_webhook, body, request.headers.get("Stripe-Signature"), self.settings
                )
            except BadWebhook as exc:
                logger.warning("payment webhook refused: %s", exc)
                return response.json({"error": str(exc)}, status=400)
            except SQLAlchemyError:
                logger.exception("payment webhook not recorded: the provider will deliver it again")
                return response.json({"error": "not recorded; try again"}, status=503)
            logger.info("payment event %s: %s", result.event_id, result.outcome)
            return response.json({"received": True, "outcome": result.outcome})

        @bp.route("/done", methods=["GET"])
        async def done(request: Request) -> HTTPResponse:
            """Where the provider sends the payer back: a plain page, no account details."""
            texts = texts_for(page_language(request.args.get("lang"), request.headers.get("accept-language")))
            paid = request.args.get("paid") == "1"
            message = texts.get("payment.page_paid" if paid else "payment.page_not_paid")
            page = (
                f'<!doctype html><html lang="{escape(texts.language)}"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(texts.get('payment.page_title'))}</title></head>"
                f'<body style="font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem">'
                f'<h1>{escape(texts.get("payment.page_title"))}</h1><p id="payment-result">{escape(message)}</p>'
                "</body></html>"
            )
            return response.html(page)

        return bp
