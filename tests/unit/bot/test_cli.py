"""bot.cli refuses bad input with a clear message and a nonzero exit, changing nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bot import cli, db
from bot.money import Money
from bot.repayment.arrangements import record_payment


def _balance(url: str, account_id: str = "A-1003") -> Money:
    with db.session_scope(url) as session:
        account = session.get(db.Account, account_id)
        assert account is not None
        return account.balance


def _payments(url: str) -> int:
    with db.session_scope(url) as session:
        query = select(func.count()).select_from(db.ContactLog).where(db.ContactLog.event == "payment_received")
        return int(session.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-50"], "more than zero"),
        (["0"], "more than zero"),
        (["0.00"], "more than zero"),
        (["99999999"], "more than the balance"),
        (["fifty"], "not an amount"),
    ],
)
def test_payment_amount_must_be_positive_and_within_the_balance(
    portfolio_database: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _balance(portfolio_database)
    assert cli.main(["payment", "A-1003", *args]) == 2
    assert message in capsys.readouterr().err
    assert _balance(portfolio_database) == before
    assert _payments(portfolio_database) == 0


def test_payment_in_the_future_is_an_argparse_error(
    portfolio_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _balance(portfolio_database)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    for bad in ("2030-01-01", tomorrow, "yesterday"):
        with pytest.raises(SystemExit) as exited:
            cli.main(["payment", "A-1003", "10.00", "--on", bad])
        assert exited.value.code == 2
        assert "--on" in capsys.readouterr().err
    assert _balance(portfolio_database) == before


def test_a_valid_payment_and_a_stated_overpayment(portfolio_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = _balance(portfolio_database)
    assert cli.main(["payment", "A-1003", "10.00", "--on", date.today().isoformat()]) == 0
    assert _balance(portfolio_database).minor == before.minor - 1000
    assert cli.main(["payment", "A-1003", str(before.amount), "--overpayment"]) == 0
    assert _balance(portfolio_database).minor == 0
    assert _payments(portfolio_database) == 2
    capsys.readouterr()


def test_record_payment_itself_refuses_what_the_cli_refuses(portfolio_database: str) -> None:
    with db.session_scope(portfolio_database) as session:
        balance = _balance(portfolio_database)
        for amount, message in [
            (Money(-5000, "USD"), "more than zero"),
            (Money(0, "USD"), "more than zero"),
            (Money(balance.minor + 1, "USD"), "more than the balance"),
        ]:
            with pytest.raises(ValueError, match=message):
                record_payment(session, account_id="A-1003", amount=amount, paid_on=date.today())
    assert _balance(portfolio_database) == balance


@pytest.mark.parametrize("at", ["garbage", "2026-11-30T14:00:00"])
def test_gate_at_must_be_an_iso_instant_with_offset(
    at: str, portfolio_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["gate", "A-1001", "--at", at])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--at" in err and "Traceback" not in err


def test_gate_with_a_good_instant_answers(portfolio_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gate", "A-1003", "--channel", "sms", "--at", "2026-11-30T14:00:00+00:00"]) == 0
    assert capsys.readouterr().out.split()[0] in {"allow", "deny", "defer"}
