"""Send-time content lint: every bot text passes the compliance lint before it leaves.

A message with prohibited wording is not sent; the debtor gets a neutral holding message and the
block is written to the audit log. Wraps any Rasa output channel.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot import db
from bot.compliance import audit
from bot.compliance.profiles import all_profiles
from bot.compliance.service import lint_outgoing
from bot.verification import sender_phone

logger = logging.getLogger(__name__)
all_profiles()  # the Rasa server refuses to start on a bad compliance profile
BLOCKED_REPLACEMENT = "Sorry, I can't send that reply. A member of our team will follow up with you."


JURISDICTION_CACHE_SECONDS = 60  # a phone's account rarely changes; a database query per message costs more
_found: dict[str, tuple[float, str, str]] = {}  # phone -> (monotonic time, account id, jurisdiction)


def jurisdiction_of(sender_id: str) -> tuple[str | None, str | None]:
    """(account id, jurisdiction) for a sender that is a debtor's phone number, else (None, None).
    A found account is remembered for :data:`JURISDICTION_CACHE_SECONDS` seconds; an unknown
    phone is looked up again on every message (its account may be loaded at any time)."""
    phone = sender_phone(sender_id)
    if not phone:
        return None, None
    now = time.monotonic()
    hit = _found.get(phone)
    if hit is not None and now - hit[0] < JURISDICTION_CACHE_SECONDS:
        return hit[1], hit[2]
    with db.session_scope() as session:
        account = db.find_account(session, phone_e164=phone)
        if account is None:
            return None, None
        if len(_found) >= 10_000:
            _found.clear()
        _found[phone] = (now, str(account.id), str(account.jurisdiction))
        return _found[phone][1], _found[phone][2]


class LintedOutput(OutputChannel):
    """Delegates to ``inner`` after linting text against the debtor's jurisdiction profile."""

    def __init__(self, inner: OutputChannel, channel: str, account_id: str | None, jurisdiction: str | None) -> None:
        self.inner = inner
        self.channel = channel
        self.account_id = account_id
        self.jurisdiction = jurisdiction

    def name(self) -> str:  # type: ignore[override]
        """The input channel's name (``twilio_voice``, ...): Rasa's NLG picks a response's
        ``channel:`` variation by the output channel's name."""
        return self.channel

    @property
    def messages(self) -> list[dict[str, Any]]:
        return getattr(self.inner, "messages", [])

    def _checked(self, text: str) -> str:
        result = lint_outgoing(text, self.jurisdiction, self.channel)
        if not result.violations:
            return text
        codes = [v.rule for v in result.violations]
        logger.error("blocked bot message with %s", codes)
        with db.session_scope() as session:
            audit.record(
                session,
                actor="bot",
                action="bot_reply",
                outcome="blocked",
                reasons=codes,
                account_id=self.account_id,
                detail={"text": text[:500], "citations": [v.citation for v in result.violations]},
            )
        return BLOCKED_REPLACEMENT

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.inner.send_text_message(recipient_id, self._checked(text), **kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.inner.send_text_with_buttons(recipient_id, self._checked(text), buttons, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.inner.send_image_url(recipient_id, image, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self.inner.send_custom_json(recipient_id, json_message, **kwargs)
