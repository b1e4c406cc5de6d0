"""Speed-ups for Rasa 3.6 that keep its behaviour, applied when the channels are imported.

- ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every action server
  answer, which first checks the (constant) response schema against the JSON Schema meta-schema:
  about 50 ms of CPU per custom action call on this machine, more than the rest of the call. Here
  the schema is checked once and one validator is reused (about 3 ms); an invalid answer still
  raises the same ``ValidationError`` with Rasa's message.
- ``Event.resolve_by_type`` walks every subclass of ``Event`` (with an ``isabstract`` check each)
  for every stored event each time a tracker is loaded: about 10 ms a turn in a profile of
  ``make bench``. Here a type name found once is remembered; unknown names still go to Rasa's own
  lookup, so its defaults and errors are unchanged.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

_validator: Any = None


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    global _validator
    if _validator is None:
        spec = RemoteAction.action_response_format_spec()
        cls = validator_for(spec)
        cls.check_schema(spec)
        _validator = cls(spec)
    try:
        _validator.validate(result)
        return True
    except ValidationError as e:
        e.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise e


_resolve_by_type = Event.resolve_by_type
_event_types: dict[str, type[Event]] = {}


def _cached_resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    found = _event_types.get(type_name)
    if found is None:
        found = _resolve_by_type(type_name, default)
        if found is not None and found is not default:
            _event_types[type_name] = found
    return found


def apply() -> None:
    """Install the patches (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(_cached_resolve_by_type)  # type: ignore[method-assign,assignment]
