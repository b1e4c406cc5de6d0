"""The Rasa speed-ups change nothing Rasa does: same event classes, same errors."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

from channels import rasa_patches


def test_cached_event_lookup_matches_rasas_own() -> None:
    rasa_patches.apply()
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is rasa_patches._resolve_by_type(cls.type_name)
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("topic") is None  # Rasa's backwards compatibility
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    event = Event.from_parameters({"event": "user", "text": "hi", "parse_data": {}})
    assert isinstance(event, UserUttered) and event.text == "hi"
