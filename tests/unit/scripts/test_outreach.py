"""scripts.outreach runs with make run's environment defaults and refuses bad arguments before
any run; make run prints an SMS example that works on the ports in use."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import db
from scripts import outreach, services
from scripts.run import sms_example

TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER", "TWILIO_API_BASE_URL", "PUBLIC_URL")


def _contact_rows(url: str) -> int:
    with db.session_scope(url) as session:
        return int(session.execute(select(func.count()).select_from(db.ContactLog)).scalar_one())


@pytest.fixture
def fake_twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The local fake on a free FAKE_TWILIO_PORT, started as make run starts it; no TWILIO_* set."""
    for name in TWILIO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    port = str(services.free_port())
    monkeypatch.setenv("FAKE_TWILIO_PORT", port)
    monkeypatch.setenv("RASA_PORT", str(services.free_port()))  # nothing there: --no-open
    monkeypatch.setenv("RASA_API_TOKEN", "test-token")
    proc = services.start_fake_twilio(services.base_env())
    yield port
    services.stop(proc)


def test_a_run_without_twilio_variables_sends_through_the_local_fake(portfolio_database: str, fake_twilio: str) -> None:
    code = outreach.main(["--no-open", "--quiet", "--account", "a-1003", "--at", "2026-11-30T19:00:00+00:00"])
    assert code == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{fake_twilio}/fake/messages", timeout=10) as resp:
        messages: list[dict[str, Any]] = json.loads(resp.read())
    with db.session_scope(portfolio_database) as session:
        phone = db.find_account(session, reference="A-1003").debtor.phone_e164  # type: ignore[union-attr]
        events = session.execute(select(db.ContactLog.event).where(db.ContactLog.account_id == "A-1003")).scalars()
        assert "sms_sent" in set(events)
    assert messages and {m["to"] for m in messages} == {phone}
    assert {m["from"] for m in messages} == {services.base_env()["TWILIO_NUMBER"]}


@pytest.mark.parametrize("every", ["-5", "0", "nan", "soon"])
def test_every_must_be_a_positive_number_of_seconds(
    every: str, portfolio_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _contact_rows(portfolio_database)
    with pytest.raises(SystemExit) as exited:
        outreach.main(["--no-open", "--every", every])
    assert exited.value.code == 2
    assert "--every" in capsys.readouterr().err
    assert _contact_rows(portfolio_database) == before  # no run started


def test_an_unknown_account_is_an_error_not_an_empty_run(
    portfolio_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _contact_rows(portfolio_database)
    with pytest.raises(SystemExit) as exited:
        outreach.main(["--no-open", "--account", "A-1001", "--account", "A-9999"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown account: A-9999" in err
    assert "A-1001" not in err.split("unknown account:")[1]
    assert _contact_rows(portfolio_database) == before


def test_the_sms_example_carries_the_ports_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_API_TOKEN", "test-token")  # base_env would create one under var/
    line = sms_example(services.base_env(RASA_PORT="5105", FAKE_TWILIO_PORT="8199"))
    assert line.startswith("RASA_PORT=5105 FAKE_TWILIO_PORT=8199 ")
    proxied = sms_example(services.base_env(RASA_PORT="5105", PUBLIC_URL="https://bot.example.org"))
    assert "PUBLIC_URL=https://bot.example.org" in proxied
