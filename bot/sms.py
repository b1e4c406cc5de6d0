"""Turning a bot turn into SMS messages: one footer per message, split on sensible boundaries so
each message stays within a segment budget (GSM-7 153 / UCS-2 67 per concatenated segment)."""

from __future__ import annotations

import re

from bot.compliance.lint import sms_segments


def _fits(body: str, footer: str, max_segments: int) -> bool:
    return sms_segments(f"{body} {footer}".strip()).segments <= max_segments


def _pieces(text: str) -> list[str]:
    """Paragraphs, then sentences, as the units a message may be cut between."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        out += [s for s in re.split(r"(?<=[.!?])\s+", paragraph.strip()) if s]
    return out


def _hard_split(word: str, footer: str, max_segments: int) -> list[str]:
    """A run with no spaces (Chinese text, a long URL) cut by characters when it cannot fit whole."""
    if _fits(word, footer, max_segments):
        return [word]
    chunks, current = [], ""
    for ch in word:
        if current and not _fits(current + ch, footer, max_segments):
            chunks.append(current)
            current = ""
        current += ch
    return chunks + ([current] if current else [])


def split_for_sms(texts: list[str], footer: str, max_segments: int) -> list[str]:
    """The bot's texts of one turn as SMS bodies, each ending with ``footer`` and each no more
    than ``max_segments`` segments. A single sentence too long on its own is cut between words."""
    bodies: list[str] = []
    current = ""
    for piece in _pieces("\n\n".join(t for t in texts if t and t.strip())):
        candidate = f"{current} {piece}".strip() if current else piece
        if _fits(candidate, footer, max_segments):
            current = candidate
            continue
        if current:
            bodies.append(current)
        current = ""
        words: list[str] = []
        for word in piece.split(" "):
            words += _hard_split(word, footer, max_segments)
        for word in words:
            candidate = f"{current} {word}".strip()
            if _fits(candidate, footer, max_segments) or not current:
                current = candidate
            else:
                bodies.append(current)
                current = word
    if current:
        bodies.append(current)
    return [f"{body} {footer}".strip() for body in bodies]
