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


def wait_label(seconds: object) -> str:
    """A wait in words for the queue: under a minute "just now", then "4 min", "2 h 5 min",
    "3 d 4 h" (whole units, rounded down). ``seconds`` as a number; a negative or unreadable
    value (a clock ahead of the server's) is "just now". ``console.js`` words it the same way."""
    try:
        total = max(0, int(float(str(seconds))))
    except (ValueError, OverflowError):
        total = 0
    minutes, hours, days = total // 60 % 60, total // 3600 % 24, total // 86400
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "just now"
