"""Queue wait times read as a person would say them, from the ticket's opening time."""

from __future__ import annotations

import pytest

from console.labels import wait_label


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "just now"),
        (59, "just now"),
        (60, "1 min"),
        (4 * 60 + 59, "4 min"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60 + 30, "2 h 5 min"),
        (86400, "1 d"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
        (-30, "just now"),  # a clock ahead of the server's
        ("nan", "just now"),
        (float("inf"), "just now"),
    ],
)
def test_wait_label(seconds: object, label: str) -> None:
    assert wait_label(seconds) == label
