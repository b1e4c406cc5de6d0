"""Texts a debtor reads or hears that are not dialogue responses: what the channels say when the
bot cannot answer (an outage, an empty message), voice prompts and keypad menus, SMS keyword
confirmations, and the parts the plan actions compose (an option's description, a schedule).

They live in ``data/texts/<language>.yml`` so ops can tune them and a language is a file, not
code; the dialogue's own responses are in ``bot/domain``. A file maps dotted keys to texts with
``str.format`` fields, and may override keys per jurisdiction prefix under ``regions``. Every
language file must have every key the default language (``en``) has.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

from bot.settings import DATA, DataFileError

TEXTS = DATA / "texts"
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Texts:
    """The texts of one language (ISO 639-1 ``language``), with one jurisdiction's overrides."""

    language: str
    entries: dict[str, str]

    def get(self, key: str, **values: Any) -> str:
        """The text for ``key`` with ``values`` filled in. Raises KeyError for an unknown key."""
        return self.entries[key].format(**values) if values else self.entries[key]

    def join(self, items: list[str]) -> str:
        """``items`` as one phrase in this language ("calls and text messages"; ``list.separator``
        and ``list.last`` are the joiners)."""
        if len(items) <= 1:
            return "".join(items)
        return self.entries["list.separator"].join(items[:-1]) + self.entries["list.last"] + items[-1]


def _read(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    where = f"data/texts/{path.name}"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataFileError(f"{where}: cannot read: {exc}") from exc
    texts = raw.get("texts")
    if not isinstance(texts, dict) or not texts:
        raise DataFileError(f"{where}: 'texts' must map keys to texts")
    regions = raw.get("regions") or {}
    if not isinstance(regions, dict) or any(not isinstance(v, dict) for v in regions.values()):
        raise DataFileError(f"{where}: 'regions' must map jurisdiction prefixes to texts")
    for scope, table in [("texts", texts), *((f"regions.{k}", v) for k, v in regions.items())]:
        for key, value in table.items():
            if not isinstance(value, str) or not value.strip():
                raise DataFileError(f"{where}: '{scope}.{key}' must be a non-empty text")
            try:
                list(Formatter().parse(value))
            except ValueError as exc:
                raise DataFileError(f"{where}: '{scope}.{key}' has a bad {{field}}: {exc}") from exc
    return {str(k): str(v) for k, v in texts.items()}, {
        str(r): {str(k): str(v) for k, v in table.items()} for r, table in regions.items()
    }


@cache
def languages() -> tuple[str, ...]:
    """The languages there are text files for, the default first. Raises DataFileError when a
    file is malformed or lacks a key the default language has, naming the file and key."""
    found = sorted(p.stem for p in TEXTS.glob("*.yml"))
    if DEFAULT_LANGUAGE not in found:
        raise DataFileError(f"data/texts/{DEFAULT_LANGUAGE}.yml is missing")
    base, _ = _read(TEXTS / f"{DEFAULT_LANGUAGE}.yml")
    for language in found:
        entries, regions = _read(TEXTS / f"{language}.yml")
        for key in base.keys() - entries.keys():
            raise DataFileError(f"data/texts/{language}.yml: missing '{key}'")
        for region, table in regions.items():
            for key in table.keys() - base.keys():
                raise DataFileError(f"data/texts/{language}.yml: 'regions.{region}.{key}' is not a text key")
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


@cache
def texts_for(language: str | None = None, jurisdiction: str | None = None) -> Texts:
    """The texts in ``language`` (the default language when there is no file for it), with the
    overrides of ``jurisdiction``'s prefix ("UK" for "UK", "US" for "US-MA")."""
    language = language if language in languages() else DEFAULT_LANGUAGE
    entries, regions = _read(TEXTS / f"{language}.yml")
    region = (jurisdiction or "").split("-")[0]
    return Texts(language, {**entries, **regions.get(region, {})})


def all_texts() -> list[tuple[str, str, str]]:
    """Every text as (language, key or region/key, text), for the content lint test."""
    out: list[tuple[str, str, str]] = []
    for language in languages():
        entries, regions = _read(TEXTS / f"{language}.yml")
        out += [(language, key, text) for key, text in entries.items()]
        out += [(language, f"{r}/{k}", t) for r, table in regions.items() for k, t in table.items()]
    return out


def page_language(asked: str | None, accept_language: str | None) -> str | None:
    """The language a page is shown in before anything is typed: ``?lang=`` when given, else
    the browser's first choice (``Accept-Language``, e.g. "zh-CN,zh;q=0.9" → "zh"); None for the
    default. A language with no texts falls back to the default in :func:`bot.texts.texts_for`."""
    if asked:
        return asked.strip().lower()[:2] or None
    first = (accept_language or "").split(",")[0].strip().lower()
    return first[:2] or None
