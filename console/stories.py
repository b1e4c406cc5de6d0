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
        _writable_entities_only(e)
        for e in conversation.events
        if not (e.get("event") == "slot" and e.get("name") == "session_started_metadata")
    ]
    tracker = DialogueStateTracker.from_dict(name, events, _domain().slots)
    story = tracker.as_story()
    return str(YAMLStoryWriter().dumps(story.story_steps, is_test_story=True))


def _writable_entities_only(event: dict[str, Any]) -> dict[str, Any]:
    """A user event with only the entities Rasa's story writer can annotate and its reader read
    back as the same text:

    - no entity whose value is an object (our amount and recurrence entities): Rasa writes them as
      ``[50]{"entity": ..., "value": {...}}``, which its own story reader then refuses;
    - no entity whose span overlaps a kept one without being the same span (the language entity
      spans the whole message, a date only "on friday"): Rasa writes each span's text, so the
      debtor's words would come back doubled ("I can pay 100 on fridayon friday"), and it refuses
      spans that start together and end apart. Of overlapping spans the shorter (it says more),
      then the earlier, is kept; entities on exactly the same span are all kept (Rasa writes them
      as one annotation)."""
    if event.get("event") != "user":
        return event
    parse = dict(event.get("parse_data") or {})
    plain = [e for e in parse.get("entities") or [] if isinstance(e.get("value"), (str, int, float))]
    kept: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    for entity in sorted(plain, key=lambda e: (_span(e)[1] - _span(e)[0], _span(e)[0])):
        start, end = _span(entity)
        if entity.get("start") is None or entity.get("end") is None:
            kept.append(entity)  # no span: nothing is written into the text
        elif all((start, end) == span or end <= span[0] or start >= span[1] for span in spans):
            kept.append(entity)
            spans.append((start, end))
    parse["entities"] = sorted(kept, key=_span)  # in the message's order, as NLU gives them
    return {**event, "parse_data": parse}


def _span(entity: dict[str, Any]) -> tuple[int, int]:
    """(start, end) character offsets of an entity in its message; (-1, -1) when it has none."""
    start, end = entity.get("start"), entity.get("end")
    return (int(start), int(end)) if start is not None and end is not None else (-1, -1)
