"""Actions run from tracker fixtures (``tests/data/*.json``) against a fresh system of record:
their events are compared exactly, as in RasaHQ/financial-demo's tests, with no server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

DATA = Path(__file__).resolve().parents[2] / "data"


def tracker_from(name: str) -> Tracker:
    """The tracker in ``tests/data/<name>.json`` (Rasa's tracker state as the action server gets it)."""
    return Tracker.from_dict(json.loads((DATA / f"{name}.json").read_text()))


def run(action: Action, tracker: Tracker, domain: dict[str, Any] | None = None) -> tuple[list[Any], list[Any]]:
    """(events, messages) of one run of ``action``."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {}))
    return events, dispatcher.messages
