"""Speed-ups for Rasa 3.6 that keep its behaviour, applied when the channels are imported.

- ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every action server
  answer, which first checks the (constant) response schema against the JSON Schema meta-schema:
  about 50 ms of CPU per custom action call on this machine, more than the rest of the call. Here
  the schema is checked once and one validator is reused (about 3 ms); an invalid answer still
  raises the same ``ValidationError`` with Rasa's message.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

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


def apply() -> None:
    """Install the patches (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
