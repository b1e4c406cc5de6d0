"""Session tokens and numbers from hostile clients are refused or ignored, never an exception."""

from __future__ import annotations

import pytest

from channels.twilio_voice import _number
from channels.webchat import sign_session, verify_session


@pytest.mark.parametrize("token", ["é.é", "abc.\u202e" + "0" * 63, "💥." + "f" * 64, ".", "a.b", None, 7, "x" * 300])
def test_hostile_webchat_tokens_are_refused(token: object) -> None:
    assert verify_session(token, b"key") is None


def test_a_real_token_still_verifies() -> None:
    assert verify_session(sign_session("abc", b"key"), b"key") == "abc"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("0.9", float, 0.9),
        ("nan", float, 0.0),
        ("inf", float, 0.0),
        ("1e999", float, 0.0),
        ("x", float, 0.0),
        (None, int, 0),
        ("2", int, 2),
        ("٣", int, 3),
        ("--1", int, 0),
    ],
)
def test_twilio_numbers_are_parsed_defensively(value: str | None, kind: type, expected: float) -> None:
    assert _number(value, kind) == expected
