"""Loading of rule data files under ``data/``, validated with messages that name the field."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def read_data_file(name: str) -> dict[str, Any]:
    """The mapping in ``data/<name>``. Raises DataFileError when it cannot be read or is not a mapping."""
    path = DATA / name
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataFileError(f"{path}: expected a mapping at the top level")
    return raw


def required_field(raw: dict[str, Any], name: str, file: str) -> Any:
    """``raw[name]``. Raises DataFileError naming ``data/<file>`` and the field when it is missing."""
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
    raw = read_data_file(file)
    attempts = required_field(raw, "max_attempts", file)
    if not isinstance(attempts, int) or attempts < 1:
        raise DataFileError(f"data/{file}: 'max_attempts' must be a positive integer")
    lockout = required_field(raw, "lockout_hours", file)
    if not isinstance(lockout, int) or lockout < 0:
        raise DataFileError(f"data/{file}: 'lockout_hours' must be a non-negative integer")
    factors = tuple(required_field(raw, "second_factors", file))
    unknown = set(factors) - {"postcode", "account_last_four"}
    if unknown or not factors:
        raise DataFileError(f"data/{file}: 'second_factors' has unknown or no entries: {sorted(unknown)}")
    order = dict(required_field(raw, "date_order", file))
    for key, value in order.items():
        if value not in ("MDY", "DMY", "YMD"):
            raise DataFileError(f"data/{file}: 'date_order.{key}' must be MDY, DMY or YMD")
    return VerificationRules(attempts, lockout, factors, order)


@cache
def promise_rules() -> PromiseRules:
    """Parsed ``data/promises.yml``. Raises DataFileError on a bad file."""
    file = "promises.yml"
    raw = read_data_file(file)
    try:
        min_amount = Decimal(str(required_field(raw, "min_amount", file)))
    except InvalidOperation as exc:
        raise DataFileError(f"data/{file}: 'min_amount' is not a decimal amount") from exc
    days = required_field(raw, "max_days_ahead", file)
    if not isinstance(days, int) or days < 0:
        raise DataFileError(f"data/{file}: 'max_days_ahead' must be a non-negative integer")
    return PromiseRules(min_amount, days)


@dataclass(frozen=True)
class Contact:
    """What a debtor in one jurisdiction is told about us (``data/company.yml``): the ``phone``
    number to call, the default ``language`` of responses (ISO 639-1), the Babel locale of money
    and dates in each language (``locales``), and the IANA ``time_zone`` assumed when the
    debtor's own is not known."""

    jurisdiction: str
    phone: str
    language: str
    locales: dict[str, str]
    time_zone: str
    business_name: str = "Example Lending"  # said before right-party contact: nothing about a debt
    contact_name: str = ""  # the person a voicemail asks for (12 CFR 1006.2(j)(1)(iii))
    mailing_address: str = ""  # on letters and the validation notice
    business_names: dict[str, str] = field(default_factory=dict)  # the business name in other languages

    def business_name_in(self, language: str | None) -> str:
        """The business name in ``language`` (ISO 639-1; ``business_names``), else the default one."""
        return self.business_names.get(language or "", self.business_name)

    @property
    def locale(self) -> str:
        """The Babel locale of the jurisdiction's default language ("en_US", "zh_CN")."""
        return self.locale_for(self.language)

    def locale_for(self, language: str | None) -> str:
        """The Babel locale for ``language`` here, else the default language's."""
        return self.locales.get(language or self.language) or self.locales[self.language]


@dataclass(frozen=True)
class Company:
    """``data/company.yml``: a :class:`Contact` per jurisdiction prefix, the ``default``
    jurisdiction and the jurisdiction of each phone country (ISO 3166 region code)."""

    contacts: dict[str, Contact]
    default: str
    phone_countries: dict[str, str]

    def contact(self, jurisdiction: str | None) -> Contact:
        """The contact for a jurisdiction code such as "US-MA" (by its prefix), else the default's."""
        prefix = (jurisdiction or self.default).split("-")[0]
        return self.contacts.get(prefix, self.contacts[self.default])


@cache
def company() -> Company:
    """Parsed ``data/company.yml``. Raises DataFileError naming the field."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    file = "company.yml"
    raw = read_data_file(file)
    table = required_field(raw, "jurisdictions", file)
    if not isinstance(table, dict) or not table:
        raise DataFileError(f"data/{file}: 'jurisdictions' must map jurisdiction prefixes to contact details")
    contacts: dict[str, Contact] = {}
    for key, value in table.items():
        for name in ("business_name", "contact_name", "mailing_address", "phone", "language", "locales", "time_zone"):
            if not isinstance(value, dict) or not value.get(name):
                raise DataFileError(f"data/{file}: 'jurisdictions.{key}.{name}' is missing")
        try:
            ZoneInfo(str(value["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise DataFileError(f"data/{file}: 'jurisdictions.{key}.time_zone' is not an IANA time zone") from exc
        locales = value["locales"]
        if not isinstance(locales, dict) or str(value["language"]) not in locales:
            raise DataFileError(f"data/{file}: 'jurisdictions.{key}.locales' must give a locale for its language")
        contacts[str(key)] = Contact(
            str(key),
            str(value["phone"]),
            str(value["language"]),
            {str(k): str(v) for k, v in locales.items()},
            str(value["time_zone"]),
            str(value["business_name"]),
            str(value["contact_name"]),
            str(value["mailing_address"]),
            {str(k): str(v) for k, v in (value.get("business_names") or {}).items()},
        )
    default = str(required_field(raw, "default", file))
    countries = {str(k): str(v) for k, v in (required_field(raw, "phone_countries", file) or {}).items()}
    for where, code in [("default", default), *((f"phone_countries.{k}", v) for k, v in countries.items())]:
        if code not in contacts:
            raise DataFileError(f"data/{file}: '{where}' names {code!r}, which is not under 'jurisdictions'")
    return Company(contacts, default, countries)


def contact_for(jurisdiction: str | None) -> Contact:
    """The :class:`Contact` for a jurisdiction code such as "US-MA" (by its prefix)."""
    return company().contact(jurisdiction)


@cache
def helplines() -> dict[str, str]:
    """Crisis helpline text by jurisdiction prefix, plus ``default`` and ``emergency`` (data/helplines.yml)."""
    file = "helplines.yml"
    raw = read_data_file(file)
    for key in ("default", "emergency"):
        required_field(raw, key, file)
    return {str(k): str(v) for k, v in raw.items()}
