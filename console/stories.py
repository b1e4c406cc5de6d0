"""Export of a stored conversation as a Rasa test story (YAML), with Rasa's own story writer so
the file is what ``rasa test core --stories`` reads."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_writer.yaml_story_writer import YAMLStoryWriter

from bot.kpis import Conversation

DOMAIN_DIR = Path(__file__).resolve().parent.parent / "bot" / "domain"


@lru_cache(maxsize=1)
def _domain() -> Domain:
    return Domain.load(str(DOMAIN_DIR))


def export_test_story(conversation: Conversation, name: str) -> str:
    """The conversation's events as one test story named ``name``: each debtor message with its
    text and the intent NLU gave it, then the actions, forms and slots that followed."""
    # session_started_metadata is set by Rasa itself at session start; a test story cannot replay it
    events = [
        _scalar_entities_only(e)
        for e in conversation.events
        if not (e.get("event") == "slot" and e.get("name") == "session_started_metadata")
    ]
    tracker = DialogueStateTracker.from_dict(name, events, _domain().slots)
    story = tracker.as_story()
    return str(YAMLStoryWriter().dumps(story.story_steps, is_test_story=True))


def _scalar_entities_only(event: dict[str, Any]) -> dict[str, Any]:
    """A user event without entities whose value is an object (our amount and recurrence
    entities): Rasa writes them as ``[50]{"entity": ..., "value": {...}}``, which its own story
    reader then refuses, so a test story keeps only entities with plain values."""
    if event.get("event") != "user":
        return event
    parse = dict(event.get("parse_data") or {})
    parse["entities"] = [e for e in parse.get("entities") or [] if isinstance(e.get("value"), (str, int, float))]
    return {**event, "parse_data": parse}
