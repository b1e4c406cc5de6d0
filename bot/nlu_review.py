"""Review queue for messages NLU was unsure about: ops label a message with the right intent and
the example is appended to the NLU file that already holds that intent (``data/nlu/*.yml``), as a
one-line change ops can review and commit; or they dismiss it. Decisions are rows of table
``nlu_reviews`` so a message leaves the queue once handled.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import db

NLU_DIR = db.ROOT / "data" / "nlu"
MAX_EXAMPLE_CHARS = 300
DISMISSED = "dismissed"


class LabelError(ValueError):
    """The example cannot be added as given; the message says why and what to do."""


class ReviewedMessage(db.Base):  # type: ignore[misc]
    """One review decision: ``message_key`` (see ``bot.kpis.UserMessage.key``), the text as added,
    the intent chosen (or "dismissed"), who decided, when (aware UTC) and the file changed."""

    __tablename__ = "nlu_reviews"
    id = Column(Integer, primary_key=True)
    message_key = Column(String(200), nullable=False, unique=True, index=True)
    text = Column(Text, nullable=False)
    intent = Column(String(64), nullable=False)
    reviewer = Column(String(64), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, default=db.utcnow)
    file = Column(String(200), nullable=True)


def ensure_table(engine: Engine) -> None:
    """Create ``nlu_reviews`` when missing (the rest of the schema is created by ``bot.db``)."""
    ReviewedMessage.__table__.create(engine, checkfirst=True)


def reviewed_keys(session: Session) -> set[str]:
    """Keys of every message already labelled or dismissed."""
    ensure_table(session.get_bind())
    return set(session.execute(select(ReviewedMessage.message_key)).scalars())


def record_review(session: Session, *, key: str, text: str, intent: str, reviewer: str, file: str | None) -> None:
    """Store one decision (not committed). Raises LabelError when the message was already reviewed."""
    ensure_table(session.get_bind())
    if session.execute(select(ReviewedMessage.id).where(ReviewedMessage.message_key == key)).first():
        raise LabelError("this message was already reviewed")
    session.add(
        ReviewedMessage(message_key=key, text=text, intent=intent, reviewer=reviewer, at=db.utcnow(), file=file)
    )


IDENTITY_SLOTS = ("account_reference", "date_of_birth", "second_factor")  # verification_form's questions


def looks_like_identity_answer(text: str) -> bool:
    """Whether ``text`` reads as a date of birth in any form ("march 7th 99", "7/3/1999",
    "seven march ninety nine"): such a message never goes into training data."""
    from bot.extraction import parse_date_of_birth  # dateparser: only when the queue is built

    return any(parse_date_of_birth(text, order) is not None for order in ("MDY", "DMY"))


def identity_answer_keys(sender_id: str, events: Any) -> set[str]:
    """Keys (as ``bot.kpis.UserMessage.key``) of the messages that answered an identity question:
    sent while the verification form asked for an account reference, a date of birth or a
    second factor, whatever NLU made of them. ``events`` as Rasa serialises a tracker's."""
    keys: set[str] = set()
    asked: str | None = None
    for event in events or ():
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "requested_slot":
            asked = event.get("value")
        elif kind == "active_loop" and not event.get("name"):
            asked = None
        elif kind == "user" and asked in IDENTITY_SLOTS:
            keys.add(f"{sender_id}@{int(float(event.get('timestamp') or 0) * 1_000_000)}")
    return keys


def _intent_examples(path: Path) -> dict[str, list[str]]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for block in data.get("nlu") or []:
        if isinstance(block, dict) and "intent" in block:
            lines = str(block.get("examples") or "").splitlines()
            out[str(block["intent"])] = [line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")]
    return out


def intents_by_file(nlu_dir: Path = NLU_DIR) -> dict[str, Path]:
    """Intent → the NLU file that holds its examples (the first, by file name, if several do)."""
    out: dict[str, Path] = {}
    for path in sorted(nlu_dir.glob("*.yml")):
        for intent in _intent_examples(path):
            out.setdefault(intent, path)
    return out


def clean_example(text: str) -> str:
    """The example as it will be written: one line, single spaces. Raises LabelError for an empty
    or over-long text, square brackets (Rasa reads ``[x](entity)`` as an entity annotation) or a
    leading "/" (Rasa reads it as an intent name)."""
    cleaned = " ".join((text or "").split())
    if not cleaned:
        raise LabelError("the example is empty")
    if len(cleaned) > MAX_EXAMPLE_CHARS:
        raise LabelError(f"the example is longer than {MAX_EXAMPLE_CHARS} characters; shorten it")
    if "[" in cleaned or "]" in cleaned:
        raise LabelError("square brackets mark entities in Rasa training data; edit them out of the example")
    if cleaned.startswith("/"):
        raise LabelError("an example starting with '/' is read as an intent name by Rasa; edit it")
    return cleaned


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def append_example(intent: str, text: str, nlu_dir: Path = NLU_DIR) -> Path:
    """Append ``text`` as an example of ``intent`` at the end of that intent's examples, in the file
    that already holds the intent; returns that file. Only that one line changes.

    Raises LabelError when no NLU file holds the intent, the text is not a valid example (see
    :func:`clean_example`), or the same example already exists under any intent (Rasa's validator
    rejects an example labelled with two intents)."""
    example = clean_example(text)
    files = intents_by_file(nlu_dir)
    path = files.get(intent)
    if path is None:
        raise LabelError(f"no file under {nlu_dir.name}/ holds intent {intent!r}")
    for other_path in sorted(set(files.values())):
        for other_intent, examples in _intent_examples(other_path).items():
            if any(_same(e, example) for e in examples):
                where = (
                    "already an example of this intent"
                    if other_intent == intent
                    else f"already an example of {other_intent!r}"
                )
                raise LabelError(f"{example!r} is {where} ({other_path.name})")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = re.compile(rf"^-\s+intent:\s*{re.escape(intent)}\s*$")
    start = next((i for i, line in enumerate(lines) if header.match(line.rstrip("\n"))), None)
    if start is None:
        raise LabelError(f"intent {intent!r} is not a plain '- intent:' block in {path.name}; add it by hand")
    # the examples block runs until the next line indented less than its items
    examples_at = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("examples:")), None)
    if examples_at is None:
        raise LabelError(f"intent {intent!r} in {path.name} has no examples block; add it by hand")
    item_indent: str | None = None
    last = examples_at
    for i in range(examples_at + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        if item_indent is None:
            item_indent = indent
        if len(indent) < len(item_indent) or (len(indent) == len(item_indent) and not stripped.startswith("- ")):
            break
        last = i
    if item_indent is None:
        raise LabelError(f"intent {intent!r} in {path.name} has an empty examples block; add it by hand")
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f"{item_indent}- {example}\n")
    new_text = "".join(lines)
    written = yaml.safe_load(new_text)  # refuse to write a file that no longer parses the same way
    blocks = {str(b.get("intent")): b for b in written.get("nlu") or [] if isinstance(b, dict)}
    if f"- {example}" not in str(blocks.get(intent, {}).get("examples", "")).splitlines():
        raise LabelError(f"could not place the example in {path.name}; add it by hand")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(new_text)
    os.replace(tmp, path)
    return path
