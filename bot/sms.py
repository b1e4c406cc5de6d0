"""Turning a bot turn into SMS messages: GSM-7 wording where the text allows it, the opt-out
footer on every message or once per reply (the jurisdiction profile's ``sms.footer``), split on
sensible boundaries so each message stays within a segment budget (GSM-7 153 / UCS-2 67 per
concatenated segment)."""

from __future__ import annotations

import re

from bot.compliance.lint import gsm7_wording, sms_segments


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


def split_for_sms(texts: list[str], footer: str, max_segments: int, footer_per_reply: bool = False) -> list[str]:
    """The bot's texts of one turn as SMS bodies of at most ``max_segments`` segments each, in
    GSM-7 wording where the texts allow it (:func:`bot.compliance.lint.gsm7_wording`). Every
    body ends with ``footer``, or only the last when ``footer_per_reply`` (the earlier ones then
    have the footer's room for text). A single sentence too long on its own is cut between words."""
    texts = [gsm7_wording(t) for t in texts if t]
    if not footer_per_reply or not footer:
        return [f"{body} {footer}".strip() for body in _pack(texts, footer, max_segments)]
    bodies = _pack(texts, "", max_segments)
    if not bodies:
        return []
    bodies[-1:] = _pack([bodies[-1]], footer, max_segments)  # the last body makes room for the footer
    return [*bodies[:-1], f"{bodies[-1]} {footer}"]


def _pack(texts: list[str], footer: str, max_segments: int) -> list[str]:
    """Bodies (without ``footer``) that each fit ``max_segments`` with ``footer`` added."""
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
    return bodies
