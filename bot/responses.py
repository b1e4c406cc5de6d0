"""The dialogue's responses in each language: the Rasa domain's (``bot/domain/*.yml``) are the
default language's; another language's are in ``data/responses/<language>.yml``, with the same
names, ``{placeholders}``, conditions and channel variations. A response a language lacks is said
in the default language. Read by the Rasa server's NLG (``channels/nlg.py``) and by outreach."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import DATA, DOMAIN, DataFileError
from bot.texts import DEFAULT_LANGUAGE

RESPONSES = DATA / "responses"
Responses = dict[str, list[dict[str, Any]]]


def _read(path: Path) -> Responses:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataFileError(f"{path.name}: cannot read: {exc}") from exc
    return {str(name): list(variations) for name, variations in raw.items()}


@cache
def domain_responses() -> Responses:
    """Every response of the Rasa domain (the default language's)."""
    out: Responses = {}
    for path in sorted(DOMAIN.glob("*.yml")):
        out.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return out


@cache
def language_responses(language: str) -> Responses:
    """The responses written in ``language`` (only those; the domain's are the default language's).
    Raises DataFileError for a malformed file or a response the domain does not have."""
    if language == DEFAULT_LANGUAGE:
        return domain_responses()
    path = RESPONSES / f"{language}.yml"
    if not path.exists():
        return {}
    found = _read(path)
    unknown = sorted(set(found) - set(domain_responses()))
    if unknown:
        raise DataFileError(f"data/responses/{language}.yml: not domain responses: {', '.join(unknown)}")
    for name, variations in found.items():
        if not variations or any(not isinstance(v, dict) or not v.get("text") for v in variations):
            raise DataFileError(f"data/responses/{language}.yml: '{name}' needs variations with a text")
    return found


def languages() -> tuple[str, ...]:
    """The languages the dialogue speaks: the default one, then those with a responses file."""
    return (DEFAULT_LANGUAGE, *sorted(p.stem for p in RESPONSES.glob("*.yml") if p.stem != DEFAULT_LANGUAGE))


def first_text(name: str, language: str | None = None) -> str:
    """The first variation's text of response ``name`` in ``language``, else the default
    language's (for texts composed outside a conversation, e.g. an outreach opening)."""
    own = language_responses(language or DEFAULT_LANGUAGE).get(name) or domain_responses()[name]
    return str(own[0]["text"])
