"""Time-barred debt: the statute of limitations per jurisdiction (``data/limitations.yml``,
each with its citation) and whether an account's debt is past it.

A time-barred debt is never the subject of a suit or a threat of one (12 CFR 1006.26(b); the
content lint adds the profile's ``when: time_barred`` wording rules), and where a payment would
revive it under state law the bot offers no plan and takes no promise (the debtor is passed to a
person who can explain the choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from dateutil.relativedelta import relativedelta

from bot.settings import DataFileError, read_data_file


@dataclass(frozen=True)
class Limitation:
    """One jurisdiction's period: ``years`` from the later of the default date and the last
    payment, its ``citation``, and whether a payment revives a time-barred debt."""

    jurisdiction: str
    years: int
    citation: str
    payment_revives: bool
    revival_citation: str


@dataclass(frozen=True)
class LimitationStatus:
    """An account's standing: ``runs_from`` and ``expires_on`` (None when the account carries no
    dates or the jurisdiction is not assessed), ``time_barred``, and ``revival_risk`` (a payment
    now would restart the period)."""

    limitation: Limitation | None
    runs_from: date | None
    expires_on: date | None
    time_barred: bool

    @property
    def revival_risk(self) -> bool:
        """Whether taking a payment would revive a time-barred debt under the jurisdiction's law."""
        return self.time_barred and self.limitation is not None and self.limitation.payment_revives


@cache
def limitations() -> dict[str, Limitation]:
    """The periods by jurisdiction code. Raises DataFileError naming the field on a bad file."""
    file = "limitations.yml"
    raw = read_data_file(file)
    table = raw.get("jurisdictions")
    if not isinstance(table, dict) or not table:
        raise DataFileError(f"data/{file}: 'jurisdictions' must map jurisdiction codes to periods")
    out: dict[str, Limitation] = {}
    for code, item in table.items():
        where = f"data/{file}: jurisdictions.{code}"
        if not isinstance(item, dict):
            raise DataFileError(f"{where}: expected a mapping")
        years = item.get("years")
        if not isinstance(years, int) or years < 1:
            raise DataFileError(f"{where}: 'years' must be a positive integer")
        for name in ("citation", "revival_citation"):
            if not item.get(name):
                raise DataFileError(f"{where}: missing '{name}'")
        if not isinstance(item.get("payment_revives"), bool):
            raise DataFileError(f"{where}: 'payment_revives' must be true or false")
        out[str(code)] = Limitation(
            str(code), years, str(item["citation"]), bool(item["payment_revives"]), str(item["revival_citation"])
        )
    return out


def status(account: Any, today: date) -> LimitationStatus:
    """The limitation standing of ``account`` (``jurisdiction``, ``default_date``,
    ``last_payment_date``) on ``today`` (the debtor's local date). The period runs from the later
    of the two dates; a jurisdiction not in the file is not assessed."""
    limitation = limitations().get(str(account.jurisdiction))
    dates = [d for d in (account.default_date, account.last_payment_date) if d is not None]
    if limitation is None or not dates:
        return LimitationStatus(limitation, None, None, False)
    runs_from = max(dates)
    expires_on = runs_from + relativedelta(years=limitation.years)
    return LimitationStatus(limitation, runs_from, expires_on, today >= expires_on)
