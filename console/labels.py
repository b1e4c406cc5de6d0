"""Readable labels for the codes the console shows: channels, handoff reasons, outcome codes."""

from __future__ import annotations

from bot.compliance.profiles import contact_channel
from bot.handoff import handoff_rules

CHANNELS = {
    "sms": "SMS",
    "voice": "Voice",
    "webchat": "Web chat",
    "rest": "REST API",
    "email": "E-mail",
    "mail": "Mail",
    "payment": "Payment",
}


def channel_label(code: object) -> str:
    """ "twilio_sms" or "sms" → "SMS"; an unknown channel as its code, spaced."""
    text = str(code or "")
    return CHANNELS.get(contact_channel(text), CHANNELS.get(text, text.replace("_", " ")))


def reason_label(code: object) -> str:
    """A handoff reason code ("beyond_authority") → its label in data/handoff.yml."""
    return handoff_rules().reason(str(code or "")).label


def code_label(code: object) -> str:
    """Any other code ("dispute_logged", "rpc_rate") → words: an outcome's label from
    data/handoff.yml when it is one, else the code with spaces."""
    text = str(code or "")
    return handoff_rules().outcomes.get(text) or text.replace("_", " ")
