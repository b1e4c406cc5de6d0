"""Promise-to-pay (PTP) checks: what the bot may accept on its own (``data/promises.yml``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.money import Money
from bot.settings import PromiseRules


@dataclass(frozen=True)
class PromiseCheck:
    """Outcome of a check. ``reason`` is a code when not ``ok``: ``currency_mismatch``,
    ``below_minimum``, ``above_balance``, ``date_in_past``, ``date_too_far``."""

    ok: bool
    reason: str | None = None


def check_amount(balance: Money, amount: Money, rules: PromiseRules) -> PromiseCheck:
    """A PTP amount must be in the account currency, at least ``min_amount``, at most the balance."""
    if amount.currency != balance.currency:
        return PromiseCheck(False, "currency_mismatch")
    if amount.amount < rules.min_amount:
        return PromiseCheck(False, "below_minimum")
    if amount.minor > balance.minor:
        return PromiseCheck(False, "above_balance")
    return PromiseCheck(True)


def latest_due_date(today: date, rules: PromiseRules) -> date:
    """The last date the bot may accept: ``today`` (debtor's zone) plus ``max_days_ahead`` days."""
    return today + timedelta(days=rules.max_days_ahead)


def check_due_date(due: date, today: date, rules: PromiseRules) -> PromiseCheck:
    """A PTP date must be today or later (debtor's zone) and no later than :func:`latest_due_date`."""
    if due < today:
        return PromiseCheck(False, "date_in_past")
    if due > latest_due_date(today, rules):
        return PromiseCheck(False, "date_too_far")
    return PromiseCheck(True)


def check_promise(balance: Money, amount: Money, due: date, today: date, rules: PromiseRules) -> PromiseCheck:
    """Both checks: the amount first, then the date."""
    result = check_amount(balance, amount, rules)
    return result if not result.ok else check_due_date(due, today, rules)
