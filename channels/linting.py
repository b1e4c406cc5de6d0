"""Send-time content lint: every bot text passes the compliance lint before it leaves.

A message with prohibited wording is not sent; the debtor gets a neutral holding message and the
block is written to the audit log. To a debtor whose debt is time-barred, talk of suing is
prohibited wording too (12 CFR 1006.26(b)). Internal markers (the handoff flag an action sends
as custom JSON, which the voice channel turns into a transfer) never reach a REST or web chat
client. Wraps any Rasa output channel.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot import db
from bot.compliance import audit
from bot.compliance.profiles import all_profiles
from bot.compliance.service import lint_outgoing
from bot.context import SenderContext
from bot.texts import texts_for

logger = logging.getLogger(__name__)
all_profiles()  # the Rasa server refuses to start on a bad compliance profile
BLOCKED_REPLACEMENT = texts_for().get("channel.blocked")  # in the default language
INTERNAL_KEYS = ("handoff",)  # custom JSON keys for the channels themselves, not for the debtor
MARKER_CHANNELS = ("twilio_voice",)  # channels that read the internal markers (a handoff transfers the call)


class LintedOutput(OutputChannel):
    """Delegates to ``inner`` after linting text against the sender's jurisdiction profile; a
    sender with no account on file is held to every profile at once (the strictest reading)."""

    def __init__(self, inner: OutputChannel, channel: str, context: SenderContext) -> None:
        self.inner = inner
        self.channel = channel
        self.context = context
        self.account_id = context.account_id
        self.jurisdiction = context.jurisdiction if context.account_id else None

    def name(self) -> str:  # type: ignore[override]
        """The input channel's name (``twilio_voice``, ...): Rasa's NLG picks a response's
        ``channel:`` variation by the output channel's name."""
        return self.channel

    @property
    def messages(self) -> list[dict[str, Any]]:
        return getattr(self.inner, "messages", [])

    def _checked(self, text: str) -> str:
        # the sender context says whether the debt is time-barred (no extra read per message); a
        # sender with no account on file is held to the strictest reading, as for the profiles
        time_barred = self.context.time_barred or self.jurisdiction is None
        result = lint_outgoing(text, self.jurisdiction, self.channel, time_barred)
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
        return texts_for(self.context.language, self.context.jurisdiction).get("channel.blocked")

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.inner.send_text_message(recipient_id, self._checked(text), **kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.inner.send_text_with_buttons(recipient_id, self._checked(text), buttons, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.inner.send_image_url(recipient_id, image, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        if self.channel not in MARKER_CHANNELS:
            json_message = {k: v for k, v in json_message.items() if k not in INTERNAL_KEYS}
            if not json_message:
                return  # nothing in it was for the debtor
        await self.inner.send_custom_json(recipient_id, json_message, **kwargs)
