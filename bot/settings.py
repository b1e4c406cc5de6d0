"""Loading of rule data files under ``data/``, validated with messages that name the field."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"  # rule data files ops edit
DOMAIN = ROOT / "bot" / "domain"  # the Rasa domain: responses, slots, intents


class DataFileError(ValueError):
    """A rule data file is missing a field or has a bad value; the message names file and field."""


def _load(name: str) -> dict[str, Any]:
    path = DATA / name
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataFileError(f"{path}: expected a mapping at the top level")
    return raw


def _field(raw: dict[str, Any], name: str, file: str) -> Any:
    if name not in raw:
        raise DataFileError(f"data/{file}: missing field '{name}'")
    return raw[name]


@dataclass(frozen=True)
class VerificationRules:
    """RPC verification settings (``data/verification.yml``)."""

    max_attempts: int
    lockout_hours: int
    second_factors: tuple[str, ...]
    date_order: dict[str, str]

    def date_order_for(self, jurisdiction: str) -> str:
        """ "MDY", "DMY" or "YMD" for a jurisdiction code such as "US-MA" (by its prefix)."""
        return self.date_order.get(jurisdiction.split("-")[0], "MDY")


@dataclass(frozen=True)
class PromiseRules:
    """What PTP the bot may accept alone (``data/promises.yml``). ``min_amount`` in major units."""

    min_amount: Decimal
    max_days_ahead: int


@cache
def verification_rules() -> VerificationRules:
    """Parsed ``data/verification.yml``. Raises DataFileError on a bad file."""
    file = "verification.yml"
    raw = _load(file)
    attempts = _field(raw, "max_attempts", file)
    if not isinstance(attempts, int) or attempts < 1:
        raise DataFileError(f"data/{file}: 'max_attempts' must be a positive integer")
    lockout = _field(raw, "lockout_hours", file)
    if not isinstance(lockout, int) or lockout < 0:
        raise DataFileError(f"data/{file}: 'lockout_hours' must be a non-negative integer")
    factors = tuple(_field(raw, "second_factors", file))
    unknown = set(factors) - {"postcode", "account_last_four"}
    if unknown or not factors:
        raise DataFileError(f"data/{file}: 'second_factors' has unknown or no entries: {sorted(unknown)}")
    order = dict(_field(raw, "date_order", file))
    for key, value in order.items():
        if value not in ("MDY", "DMY", "YMD"):
            raise DataFileError(f"data/{file}: 'date_order.{key}' must be MDY, DMY or YMD")
    return VerificationRules(attempts, lockout, factors, order)


@cache
def promise_rules() -> PromiseRules:
    """Parsed ``data/promises.yml``. Raises DataFileError on a bad file."""
    file = "promises.yml"
    raw = _load(file)
    try:
        min_amount = Decimal(str(_field(raw, "min_amount", file)))
    except InvalidOperation as exc:
        raise DataFileError(f"data/{file}: 'min_amount' is not a decimal amount") from exc
    days = _field(raw, "max_days_ahead", file)
    if not isinstance(days, int) or days < 0:
        raise DataFileError(f"data/{file}: 'max_days_ahead' must be a non-negative integer")
    return PromiseRules(min_amount, days)


@cache
def company_contacts() -> dict[str, dict[str, str]]:
    """Phone number and locale shown to debtors, by jurisdiction prefix plus ``default`` (data/company.yml)."""
    file = "company.yml"
    raw = _load(file)
    _field(raw, "default", file)
    for key, value in raw.items():
        for field in ("phone", "locale"):
            if not isinstance(value, dict) or field not in value:
                raise DataFileError(f"data/{file}: '{key}.{field}' is missing")
    return {str(k): {"phone": str(v["phone"]), "locale": str(v["locale"])} for k, v in raw.items()}


def contact_for(jurisdiction: str) -> dict[str, str]:
    """Phone and locale for a jurisdiction code such as "US-MA" (by its prefix)."""
    contacts = company_contacts()
    return contacts.get(jurisdiction.split("-")[0], contacts["default"])


@cache
def helplines() -> dict[str, str]:
    """Crisis helpline text by jurisdiction prefix, plus ``default`` and ``emergency`` (data/helplines.yml)."""
    file = "helplines.yml"
    raw = _load(file)
    for key in ("default", "emergency"):
        _field(raw, key, file)
    return {str(k): str(v) for k, v in raw.items()}
