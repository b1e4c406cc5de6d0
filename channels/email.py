"""E-mail channel at ``/webhooks/email/``: the opt-out link every e-mail carries (12 CFR
1006.6(e)). Opening it (GET) or a mail client's one-click request (POST, RFC 8058) records the
opt-out in the opt-out ledger, the contact log and the audit log; the contact gate then refuses
e-mail to that account (``opt_out`` hold on channel "email"). Outbound e-mail itself is sent by
:mod:`bot.mailer`; this channel receives no messages for the bot.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import db
from bot.compliance.optout import record_opt_out
from bot.mailer import read_unsubscribe_token
from bot.texts import texts_for

logger = logging.getLogger(__name__)
PAGE = '<!doctype html><html lang="en"><meta charset="utf-8"><title>E-mail</title><body><p>{text}</p></body></html>'


def unsubscribe(token: str) -> tuple[int, str]:
    """Record the opt-out a token names; (HTTP status, text for the page)."""
    texts = texts_for()
    found = read_unsubscribe_token(token)
    if found is None:
        return 400, texts.get("email.unsubscribe_invalid")
    address, account_id = found
    with db.session_scope() as session:
        if account_id and session.get(db.Account, account_id) is None:
            account_id = None
        already = session.query(db.OptOut).filter_by(address=address, channel="email").first() is not None
        if not already:
            record_opt_out(
                session,
                address=address,
                channel="email",
                account_id=account_id,
                actor="email",
                conversation_id=address,
                wording="e-mail opt-out link",
            )
    return 200, texts.get("email.unsubscribed", address=address)


class EmailInput(InputChannel):
    """The opt-out link's endpoint: ``GET`` or ``POST /webhooks/email/unsubscribe?t=<token>``."""

    @classmethod
    def name(cls) -> str:
        return "email"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint("collections_email", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def index(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/unsubscribe", methods=["GET", "POST"])
        async def unsubscribe_link(request: Request) -> HTTPResponse:
            status, text = unsubscribe(str(request.args.get("t") or ""))
            return response.html(PAGE.format(text=escape(text)), status=status)

        return bp
