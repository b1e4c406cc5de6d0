"""Standard Financial Statement (SFS) trigger figures for the flexible spending categories
(``data/sfs_triggers.yml``, with their source): a UK debtor's spending above a trigger is asked
about, never rejected (CONC 7.3.4R, 7.3.7AG); the plan still rests on the figures given."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from bot.money import Money
from bot.settings import DataFileError, read_data_file


@dataclass(frozen=True)
class AboveTrigger:
    """One category above its trigger: the SFS ``category``, the debtor's monthly ``amount`` and
    the ``trigger`` figure for the household."""

    category: str
    amount: Money
    trigger: Money


@cache
def triggers() -> tuple[str, str, dict[str, dict[str, Decimal]]]:
    """(source, currency, household -> category -> monthly trigger in major units). Raises
    DataFileError naming the field on a bad file."""
    raw = read_data_file("sfs_triggers.yml")
    households = raw.get("households")
    if not raw.get("source") or not raw.get("currency") or not isinstance(households, dict) or not households:
        raise DataFileError("data/sfs_triggers.yml: 'source', 'currency' and 'households' are required")
    table = {}
    for household, figures in households.items():
        if not isinstance(figures, dict) or not figures:
            raise DataFileError(f"data/sfs_triggers.yml: households.{household} must map categories to figures")
        table[str(household)] = {str(k): Decimal(str(v)) for k, v in figures.items()}
    return str(raw["source"]), str(raw["currency"]), table


def above_triggers(outgoings: dict[str, Money], household: str = "single_adult") -> list[AboveTrigger]:
    """The flexible categories of ``outgoings`` (monthly, in the triggers' currency) above the
    household's trigger figures; other currencies and categories are not compared."""
    _, currency, table = triggers()
    figures = table.get(household) or next(iter(table.values()))
    out = []
    for category, limit in figures.items():
        amount = outgoings.get(category)
        if amount is not None and amount.currency == currency and amount.amount > limit:
            out.append(AboveTrigger(category, amount, Money.of(limit, currency)))
    return out
