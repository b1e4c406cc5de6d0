"""Synthetic demo portfolio: the fixture accounts of ``data/portfolio/fixtures.yml`` plus a
deterministic generated spread over DPD buckets, jurisdictions and time zones
(``data/portfolio/generator.yml``). No real person's data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.money import Money

DATA = Path(__file__).resolve().parent.parent / "data" / "portfolio"


@dataclass(frozen=True)
class PortfolioAccount:
    """One account with its debtor, as loaded into the system of record."""

    id: str
    full_name: str
    phone: str  # E.164
    date_of_birth: date
    postcode: str
    last_four: str
    balance: Money
    days_past_due: int
    jurisdiction: str
    time_zone: str
    annual_rate: Decimal = Decimal("0.1999")  # contract interest rate, a yearly fraction


def _check_phone(phone: str, where: str) -> str:
    parsed = phonenumbers.parse(phone, None)
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{where}: phone {phone!r} is not a possible number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def load_fixtures(path: Path = DATA / "fixtures.yml") -> list[PortfolioAccount]:
    """The fixture accounts. Raises ValueError naming the account and field on bad data."""
    raw = yaml.safe_load(path.read_text())["accounts"]
    out = []
    for item in raw:
        where = f"{path.name}: account {item.get('id', '?')}"
        try:
            out.append(
                PortfolioAccount(
                    id=item["id"],
                    full_name=item["full_name"],
                    phone=_check_phone(str(item["phone"]), where),
                    date_of_birth=item["date_of_birth"],
                    postcode=str(item["postcode"]),
                    last_four=str(item["last_four"]),
                    balance=Money.of(str(item["balance"]), item["currency"]),
                    days_past_due=int(item["days_past_due"]),
                    jurisdiction=item["jurisdiction"],
                    time_zone=item["time_zone"],
                    annual_rate=Decimal(str(item.get("annual_rate", "0.1999"))),
                )
            )
        except KeyError as exc:
            raise ValueError(f"{where}: missing field {exc.args[0]}") from exc
    return out


def generate(path: Path = DATA / "generator.yml") -> list[PortfolioAccount]:
    """Fixtures plus ``count`` generated accounts; the same file always yields the same portfolio."""
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    rng = random.Random(spec["seed"])
    accounts = load_fixtures()
    used_phones = {a.phone for a in accounts}
    regions = spec["regions"]
    buckets = spec["dpd_buckets"]
    serial: dict[str, int] = {}
    for i in range(spec["count"]):
        region = rng.choices(regions, weights=[r["weight"] for r in regions])[0]
        while True:
            n = serial.get(region["jurisdiction"], 9) + 1
            serial[region["jurisdiction"]] = n
            phone = _check_phone(region["phone"].format(n=n), "generator")
            if phone not in used_phones:
                break
        used_phones.add(phone)
        low, high, _ = rng.choices(buckets, weights=[b[2] for b in buckets])[0]
        lo, hi = spec["balance_bands"][region["currency"]]
        balance = Decimal(rng.randrange(lo * 100, hi * 100)) / 100
        accounts.append(
            PortfolioAccount(
                id=f"A-{5000 + i}",
                full_name=f"{rng.choice(spec['first_names'])} {rng.choice(spec['last_names'])}",
                phone=phone,
                date_of_birth=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
                postcode=rng.choice(region["postcodes"]),
                last_four=f"{rng.randint(0, 9999):04d}",
                balance=Money.of(balance, region["currency"]),
                days_past_due=rng.randint(low, high),
                jurisdiction=region["jurisdiction"],
                time_zone=region["time_zone"],
            )
        )
    return accounts


def load_into(session: Session, accounts: list[PortfolioAccount]) -> int:
    """Insert accounts that are not there yet (by account id); returns how many were added."""
    from bot.db import Account, Debtor

    existing = set(session.execute(select(Account.id)).scalars())
    added = 0
    for a in accounts:
        if a.id in existing:
            continue
        debtor = Debtor(full_name=a.full_name, date_of_birth=a.date_of_birth, phone_e164=a.phone, postcode=a.postcode)
        session.add(debtor)
        session.flush()
        session.add(
            Account(
                id=a.id,
                debtor_id=debtor.id,
                balance_minor=a.balance.minor,
                currency=a.balance.currency,
                days_past_due=a.days_past_due,
                jurisdiction=a.jurisdiction,
                time_zone=a.time_zone,
                last_four=a.last_four,
                apr_bps=int(a.annual_rate * 10000),
            )
        )
        added += 1
    return added


def count_accounts(session: Session) -> int:
    """How many accounts the system of record holds."""
    from bot.db import Account

    return int(session.execute(select(func.count()).select_from(Account)).scalar_one())
