"""bot.logmask: what is masked in log records, and what is kept."""

from __future__ import annotations

import logging

import pytest

from bot.logmask import install, mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SMS to +17735550105 failed", "SMS to +*********05 failed"),
        ("call (617) 555-0101", "call (***) ***-**01"),
        ("account A-5300", "account A-**00"),
        ("born 1985-04-12", "born [date]"),
        ("born 04/12/1985", "born [date]"),
        ("born April 12 1985", "born [date]"),
        ("born 12th of April, 1985", "born [date]"),
        ("born Apr 3, 1980", "born [date]"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "SID SM00000000000000000000000000000001",
        "answered in 143 ms",
        "port 5005",
        "April 2024",
        "Python/3.10.13",
        "POST http://127.0.0.1:8099/2010-04-01/Accounts/AC0/Messages.json",
    ],
)
def test_other_text_is_kept(text: str) -> None:
    assert mask(text) == text


def test_installed_factory_masks_arguments_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    install()
    log = logging.getLogger("logmask-test")
    with caplog.at_level(logging.INFO):
        log.info("message from %s", "+447700900123")
        try:
            raise ValueError("bad date of birth 1985-04-12 for A-1001")
        except ValueError:
            log.exception("failed")
    text = caplog.text
    assert "+447700900123" not in text and "+**********23" in text
    assert "1985-04-12" not in text and "A-1001" not in text and "ValueError" in text
